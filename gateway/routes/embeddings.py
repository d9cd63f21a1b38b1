"""``POST /v1/embeddings``: OpenAI's embeddings API over the text, vision and audio encoders.

Large inputs are split into chunks sent to the encoder in parallel (they meet again in its micro-batcher);
vectors travel from the encoder as base64: relayed as they are when the client asks for base64, and written from
their float32 buffers by orjson (never through lists of Python floats) when it asks for floats.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from flask import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.settings import GatewaySettings
from gateway.upstreams import EMBED_COALESCER, FANOUT_EXECUTOR, upstream
from servekit.app import current_settings
from servekit.catalog import SERVICE_OF, Modality
from servekit.client import CallContext
from servekit.codecs import base64_to_vector
from servekit.embeddings import MAX_DIMENSIONS
from servekit.errors import ApiError, InvalidInput, UpstreamUnavailable
from servekit.fanout import fan_out
from servekit.fastjson import dumps, json_response, loads
from servekit.validation import check_item_count, is_blank, parse_json

bp = Blueprint("embeddings", __name__, url_prefix="/v1")
_JSON = {"Content-Type": "application/json"}

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


def _embed(req: EmbeddingsRequest, items: list[str], settings: GatewaySettings) -> list[dict[str, Any]]:
    """The encoder's answers for ``items``: one call, shared with concurrent requests for the same model when the
    gateway coalesces, or one call per chunk of a large request, in parallel."""
    client = upstream(SERVICE_OF[req.modality])
    queue = req.model or ""  # the model's batcher upstream; mirrored so that a storm is refused here

    def send(inputs: list[str], context: CallContext) -> dict[str, Any]:
        body = {"model": req.model, "input": inputs, "encoding_format": "base64", "dimensions": req.dimensions}
        answer: dict[str, Any] = loads(client.request("POST", "/v1/embed", data=dumps(body), context=context,
                                                      queue=queue, headers=_JSON).content)
        return answer

    chunk = settings.embedding_chunk_size
    if len(items) <= chunk:  # the common case: on the request's own thread, no hand-off to the fan-out pool
        coalescer = EMBED_COALESCER.current_or_none()
        context = CallContext.capture()
        # Only texts are coalesced: an image or a recording costs far more model time than its call, and their
        # bodies are large enough that several together could pass the encoder's body limit.
        if coalescer is None or req.modality != "text" or len(items) > settings.coalesce_max_inputs:
            return [send(items, context)]
        client.admit(queue, context)  # a storm is refused here, not after a wait in the lane
        return [coalescer.call((req.modality, req.model, req.dimensions), items, send, context)]
    offsets = list(range(0, len(items), chunk))
    results = fan_out(FANOUT_EXECUTOR.current(),
                      [partial(send, items[offset:offset + chunk]) for offset in offsets])
    for offset, result in zip(offsets, results, strict=True):
        if isinstance(result, ApiError):
            raise _shift_error(result, offset)
        if isinstance(result, Exception):
            raise result
    return [r for r in results if isinstance(r, dict)]


def split_answer(answer: dict[str, Any], sizes: list[int]) -> list[dict[str, Any]]:
    """One coalesced call's answer cut into the answers of the requests that rode it, each with its own usage
    (the encoders count each input's tokens)."""
    data = answer.get("data")
    if not isinstance(data, list) or len(data) != sum(sizes):
        raise UpstreamUnavailable("the encoder answered a different number of embeddings than it was sent",
                                  code="bad_upstream_answer")
    parts: list[dict[str, Any]] = []
    start = 0
    for size in sizes:
        part = data[start:start + size]
        start += size
        tokens = sum(int(item.get("tokens", 0)) for item in part)
        parts.append({**answer, "data": part, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
    return parts


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
    answers = _embed(req, items, settings)
    data, tokens = _render(answers, req.encoding_format)
    first = answers[0]
    return json_response({"object": "list", "data": data, "model": first.get("model", req.model),
                          "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
