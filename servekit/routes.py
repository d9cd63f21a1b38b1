"""The routes every encoder serves the same way: ``POST /v1/embed`` and ``GET /v1/models``.

A service supplies only what is its own: how an embed request's inputs become model items (texts as they are,
images decoded from uploads, recordings decoded at the model's sampling rate). Model choice, the dimensions
check, batching and the OpenAI-shaped answer are the kernel's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify

from servekit.context import remaining_s
from servekit.embeddings import EmbedParams, check_dimensions, embedding_response, split_token_counts
from servekit.fastjson import json_response
from servekit.items import raise_first_failure
from servekit.models import ModelBackend, current_pool
from servekit.protocol import queue_wait_header


@dataclass(frozen=True)
class EmbedCall:
    """An embed request as the service read it: its parameters, and how its inputs become the chosen model's
    items (an :class:`~servekit.errors.ApiError` in a slot fails the request, naming that input)."""

    params: EmbedParams
    items_for: Callable[[ModelBackend], Sequence[Any]]


# Reads the current request into an EmbedCall (the service's own intake).
EmbedIntake = Callable[[], EmbedCall]


def encoder_blueprint(read_embed: EmbedIntake) -> Blueprint:
    """``POST /v1/embed`` and ``GET /v1/models`` over the current app's model pool."""
    bp = Blueprint("encoder", __name__, url_prefix="/v1")

    @bp.post("/embed")
    def embed() -> Response:
        call = read_embed()
        pool = current_pool()
        name = pool.resolve(call.params.model, "embed")
        backend = pool.backend(name, "embed")
        info = backend.info()
        check_dimensions(call.params.dimensions, info["dimensions"], info["truncatable"], name)
        items = list(call.items_for(backend))
        raise_first_failure(items)
        results = pool.run(name, "embed", items, remaining_s())
        raise_first_failure(results)
        vectors, tokens = split_token_counts(results)
        answer = json_response(embedding_response(vectors, model=name, space=backend.space,
                                                  encoding_format=call.params.encoding_format,
                                                  dimensions=call.params.dimensions, tokens=tokens))
        answer.headers.update(queue_wait_header(pool.expected_wait_s(name, "embed")))  # callers mirror the queue
        return answer

    @bp.get("/models")
    def models() -> Response:
        return jsonify(object="list", data=current_pool().list_models())

    return bp
