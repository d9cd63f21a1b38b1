"""Public routes for image captioning, classification and OCR (vision helper)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("images", __name__, url_prefix="/v1")
