"""The vision encoder service: image embeddings, classification, captions and OCR."""

from __future__ import annotations

from flask import Flask

from servekit.app import create_model_service
from services.vision.backends import REGISTRY
from services.vision.chat_routes import install_generation
from services.vision.fetch import UrlFetcher, UrlPolicy
from services.vision.imaging import ImageLimits
from services.vision.intake import IMAGE_INTAKE, ImageIntake, read_embed
from services.vision.routes import bp
from services.vision.settings import VisionSettings


def build_intake(settings: VisionSettings) -> ImageIntake:
    """The image intake under the configured byte, pixel, aspect and URL limits."""
    limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels, settings.max_aspect_ratio,
                         settings.max_image_side)
    policy = UrlPolicy(enabled=settings.allow_urls, allowed_hosts=tuple(settings.url_allowed_hosts),
                       timeout_s=settings.url_timeout_s, max_bytes=min(settings.url_max_bytes, limits.max_bytes),
                       allow_private=settings.url_allow_private)
    return ImageIntake(limits, UrlFetcher(policy), settings.max_items_per_request)


def create_app(settings: VisionSettings | None = None, *, load_in_background: bool = True) -> Flask:
    settings = settings or VisionSettings()
    app = create_model_service("vision", settings, REGISTRY, [bp], embed_intake=read_embed,
                               load_in_background=load_in_background)
    IMAGE_INTAKE.set(app, build_intake(settings))
    install_generation(app, settings)
    return app
