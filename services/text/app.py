"""The text encoder service: sentence embeddings and the text towers of joint spaces (CLIP, CLAP)."""

from __future__ import annotations

from flask import Flask

from servekit.app import create_service_app, metrics_of
from servekit.models import ModelPool
from services.text.backends import REGISTRY
from services.text.routes import bp
from services.text.settings import TextSettings


def create_app(settings: TextSettings | None = None, *, load_in_background: bool = True) -> Flask:
    settings = settings or TextSettings()
    pool_ref: list[ModelPool] = []
    app = create_service_app("text", settings, ready_check=lambda: pool_ref[0].ready_check())
    pool = ModelPool(settings.models, REGISTRY, settings, metrics_of(app))
    pool_ref.append(pool)
    app.extensions["pool"] = pool
    app.register_blueprint(bp)
    pool.start(background=load_in_background)
    return app
