"""``POST /v1/embed`` and ``GET /v1/models`` of the text encoder."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from servekit.app import current_settings
from servekit.context import remaining_s
from servekit.embeddings import EmbedRequest, check_dimensions, embedding_response
from servekit.errors import InvalidInput
from servekit.items import raise_first_failure
from servekit.models import current_pool
from servekit.validation import parse_json
from services.text.settings import TextSettings

bp = Blueprint("text", __name__, url_prefix="/v1")


def _check_texts(texts: list[str], settings: TextSettings) -> None:
    if len(texts) > settings.max_items_per_request:
        raise InvalidInput(f"at most {settings.max_items_per_request} inputs per request, got {len(texts)}",
                           param="input", code="too_many_inputs")
    for index, text in enumerate(texts):
        if not text.strip():
            raise InvalidInput(f"input[{index}] is empty", param=f"input[{index}]", code="empty_input")
        if len(text) > settings.max_chars_per_item:
            raise InvalidInput(f"input[{index}] is longer than {settings.max_chars_per_item} characters",
                               param=f"input[{index}]", code="input_too_long")


@bp.post("/embed")
def embed() -> Any:
    request = parse_json(EmbedRequest)
    settings: TextSettings = current_settings()
    _check_texts(request.input, settings)
    pool = current_pool()
    name = request.model or pool.default_model("embed")
    backend = pool.backend(name, "embed")
    info = backend.info()
    check_dimensions(request.dimensions, info["dimensions"], info["truncatable"], name)
    results = pool.run(name, "embed", request.input, remaining_s())
    raise_first_failure(results)
    vectors = [vector for vector, _ in results]
    tokens = sum(count for _, count in results)
    return jsonify(embedding_response(vectors, model=name, space=backend.space,
                                      encoding_format=request.encoding_format, dimensions=request.dimensions,
                                      prompt_tokens=tokens))


@bp.get("/models")
def models() -> Any:
    return jsonify(object="list", data=current_pool().list_models())
