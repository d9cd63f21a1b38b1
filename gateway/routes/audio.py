"""Public routes for speech recognition (audio helper)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("audio", __name__, url_prefix="/v1")
