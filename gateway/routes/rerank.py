"""``POST /v1/rerank`` (Cohere / Jina shape): the text service's cross-encoders order documents by relevance.

The body is checked to be JSON and forwarded unchanged; the text service validates it (``servekit.rerank``) and
its answer or error comes back as is.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from gateway.upstreams import upstream
from servekit.validation import require_json

bp = Blueprint("rerank", __name__, url_prefix="/v1")


@bp.post("/rerank")
def rerank() -> Any:
    answer = upstream("text").request("POST", "/v1/rerank", json=require_json())
    return Response(answer.content, status=answer.status_code, mimetype="application/json")
