"""Public routes for fusion, collections, retrieval and classification (fusion helper)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("fusion", __name__, url_prefix="/v1")
