"""The fusion service's blueprints: collections and retrieval, videos, fusion and classification, fusion heads."""

from services.fusion.routes.collections import bp as collections_bp
from services.fusion.routes.heads import bp as heads_bp
from services.fusion.routes.inference import bp as inference_bp
from services.fusion.routes.videos import bp as videos_bp

BLUEPRINTS = (collections_bp, videos_bp, inference_bp, heads_bp)
