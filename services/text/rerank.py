"""``POST /v1/rerank`` of the text service: a cross-encoder scores each (query, document) pair.

The pairs go through the model pool's micro-batcher like embeddings do, so documents of concurrent requests
share forward passes; the answer orders them best first (Cohere / Jina shape, see ``servekit.rerank``).
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from servekit.app import current_settings
from servekit.context import remaining_s
from servekit.errors import InvalidInput
from servekit.items import raise_first_failure
from servekit.models import current_pool
from servekit.rerank import RerankRequest, document_texts, rerank_results
from servekit.validation import parse_json
from services.text.settings import TextSettings

bp = Blueprint("text_rerank", __name__, url_prefix="/v1")


@bp.post("/rerank")
def rerank() -> Response:
    request = parse_json(RerankRequest)
    settings = current_settings(TextSettings)
    if len(request.query) > settings.max_chars_per_item:
        raise InvalidInput(f"query is longer than {settings.max_chars_per_item} characters", param="query",
                           code="input_too_long")
    texts = document_texts(request.documents, settings.max_rerank_documents, settings.max_chars_per_item)
    pool = current_pool()
    name = pool.resolve(request.model, "rerank")
    results = pool.run(name, "rerank", [(request.query, text) for text in texts], remaining_s())
    raise_first_failure(results, param="documents")
    tokens = sum(count for _, count in results)
    return jsonify(object="rerank", model=name, results=rerank_results([s for s, _ in results], request),
                   usage={"prompt_tokens": tokens, "total_tokens": tokens})
