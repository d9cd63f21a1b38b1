"""The audio service: speech recognition (Whisper, CTC models) and audio embeddings (Whisper encoder, CLAP)."""

from __future__ import annotations

import logging

from flask import Flask

from servekit.app import create_model_service
from servekit.models import ModelSpec
from services.audio.backends import REGISTRY
from services.audio.intake import read_embed
from services.audio.routes import bp
from services.audio.settings import AudioSettings


def with_cache_dir(specs: list[ModelSpec], settings: AudioSettings) -> list[ModelSpec]:
    """Hand every model the configured cache folder (where split package weights are assembled)."""
    return [spec if "cache_dir" in spec.options
            else spec.model_copy(update={"options": {**spec.options, "cache_dir": str(settings.model_cache_dir)}})
            for spec in specs]


def quiet_libraries() -> None:
    """FFmpeg's warnings about bad input (our 4xx already says what was wrong) and faster-whisper's
    per-request progress lines stay out of the JSON logs."""
    import av.logging

    av.logging.set_level(av.logging.ERROR)
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)


def create_app(settings: AudioSettings | None = None, *, load_in_background: bool = True) -> Flask:
    settings = settings or AudioSettings()
    quiet_libraries()
    return create_model_service("audio", settings, REGISTRY, [bp], embed_intake=read_embed,
                                specs=with_cache_dir(settings.models, settings), load_in_background=load_in_background)
