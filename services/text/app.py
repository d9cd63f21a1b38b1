"""The text encoder service: sentence embeddings and the text towers of joint spaces (CLIP, CLAP)."""

from __future__ import annotations

from flask import Flask

from servekit.app import create_model_service
from services.text.backends import REGISTRY
from services.text.intake import read_embed
from services.text.rerank import bp as rerank_bp
from services.text.settings import TextSettings


def create_app(settings: TextSettings | None = None, *, load_in_background: bool = True) -> Flask:
    return create_model_service("text", settings or TextSettings(), REGISTRY, [rerank_bp], embed_intake=read_embed,
                                load_in_background=load_in_background)
