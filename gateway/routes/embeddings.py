"""``POST /v1/embeddings``: OpenAI's embeddings API over the text, vision and audio encoders.

Large inputs are split into chunks sent to the encoder in parallel (they meet again in its micro-batcher);
vectors travel from the encoder as base64: relayed as they are when the client asks for base64, and written from
their float32 buffers by orjson (never through lists of Python floats) when it asks for floats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.settings import GatewaySettings
from gateway.upstreams import FANOUT_EXECUTOR, upstream
from servekit.app import current_settings
from servekit.catalog import SERVICE_OF, Modality
from servekit.client import CallContext
from servekit.codecs import base64_to_vector
from servekit.embeddings import MAX_DIMENSIONS
from servekit.errors import ApiError, InvalidInput
from servekit.fanout import fan_out
from servekit.fastjson import dumps, json_response, loads
from servekit.validation import check_item_count, is_blank, parse_json

bp = Blueprint("embeddings", __name__, url_prefix="/v1")

class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    input: str | list[str] | list[int] | list[list[int]]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1, le=MAX_DIMENSIONS)
    user: str | None = None
    modality: Modality = Field("text", description="What the input strings are: text, or base64 image/audio.")


def _inputs(req: EmbeddingsRequest, limit: int) -> list[str]:
    items = [req.input] if isinstance(req.input, str) else list(req.input)
    if not items:
        raise InvalidInput("input must not be empty", param="input", code="empty_input")
    if not all(isinstance(item, str) for item in items):
        raise InvalidInput("token arrays are not supported: send the input as strings", param="input",
                           code="unsupported_input")
    check_item_count(len(items), limit)
    for index, item in enumerate(items):
        if is_blank(str(item)):
            raise InvalidInput(f"input[{index}] is empty", param=f"input[{index}]", code="empty_input")
    return [str(item) for item in items]


def _shift_error(error: ApiError, offset: int) -> ApiError:
    """An upstream error about ``input[i]`` of a chunk names ``input[offset + i]`` of the whole request."""
    if offset and error.param and error.param.startswith("input["):
        index = int(error.param[6:].split("]", 1)[0])
        error.message = error.message.replace(error.param, f"input[{index + offset}]")
        error.param = f"input[{index + offset}]"
    return error


def _embed_chunks(req: EmbeddingsRequest, items: list[str], chunk: int) -> list[dict[str, Any]]:
    client = upstream(SERVICE_OF[req.modality])
    executor = FANOUT_EXECUTOR.current()
    offsets = list(range(0, len(items), chunk))
    queue = req.model or ""  # the model's batcher upstream; mirrored so that a storm is refused here

    def call(offset: int) -> Any:
        body = {"model": req.model, "input": items[offset:offset + chunk], "encoding_format": "base64",
                "dimensions": req.dimensions}
        return lambda ctx: loads(client.request("POST", "/v1/embed", data=dumps(body), context=ctx, queue=queue,
                                                headers={"Content-Type": "application/json"}).content)

    calls = [call(offset) for offset in offsets]
    # One chunk (the common case) runs on the request's own thread: no hand-off to the fan-out pool and back.
    results = fan_out(executor, calls) if len(calls) > 1 else [_call_inline(calls[0])]
    for offset, result in zip(offsets, results, strict=True):
        if isinstance(result, ApiError):
            raise _shift_error(result, offset)
        if isinstance(result, Exception):
            raise result
    return [r for r in results if isinstance(r, dict)]


def _call_inline(call: Callable[[CallContext], Any]) -> Any:
    try:
        return call(CallContext.capture())
    except Exception as exc:  # noqa: BLE001 - handed back like fan_out's results
        return exc


def _render(answers: list[dict[str, Any]], encoding_format: str) -> tuple[list[dict[str, Any]], int]:
    data: list[dict[str, Any]] = []
    tokens = 0
    for answer in answers:
        tokens += int(answer.get("usage", {}).get("prompt_tokens", 0))
        for item in answer["data"]:
            vector: Any = item["embedding"]
            if encoding_format == "float":
                vector = base64_to_vector(vector)
            data.append({"object": "embedding", "index": len(data), "embedding": vector})
    return data, tokens


@bp.post("/embeddings")
def create_embeddings() -> Response:
    settings = current_settings(GatewaySettings)
    req = parse_json(EmbeddingsRequest)
    items = _inputs(req, settings.max_embedding_inputs)
    answers = _embed_chunks(req, items, settings.embedding_chunk_size)
    data, tokens = _render(answers, req.encoding_format)
    first = answers[0]
    return json_response({"object": "list", "data": data, "model": first.get("model", req.model),
                          "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
