"""The embedding response every encoder returns (OpenAI's shape plus the space id), built in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from servekit.codecs import vector_to_base64
from servekit.errors import InvalidInput

EncodingFormat = Literal["float", "base64"]
# Larger than any model's vectors, and small enough to travel between services as JSON (a number past 64 bits,
# which the fuzzer sent, cannot be written by orjson).
MAX_DIMENSIONS = 1 << 16


class EmbedParams(BaseModel):
    """What every encoder's ``POST /v1/embed`` takes besides its inputs."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, min_length=1, description="Default: the first model that embeds.")
    encoding_format: EncodingFormat = "float"
    dimensions: int | None = Field(None, ge=1, le=MAX_DIMENSIONS)


class EmbedRequest(EmbedParams):
    """The JSON body of ``POST /v1/embed``: one input or many (text, or base64 images / recordings)."""

    input: list[str] = Field(min_length=1)

    @field_validator("input", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class TokenCountedVector(NamedTuple):
    """An embedding with the number of tokens its input took (text models report usage)."""

    vector: np.ndarray
    tokens: int


def split_token_counts(results: Sequence[Any]) -> tuple[list[np.ndarray], list[int] | None]:
    """Vectors, and each input's token count (None where the model counts no tokens: images, audio)."""
    vectors = [r.vector if isinstance(r, TokenCountedVector) else r for r in results]
    if not any(isinstance(r, TokenCountedVector) for r in results):
        return vectors, None
    return vectors, [r.tokens if isinstance(r, TokenCountedVector) else 0 for r in results]


def shorten(vector: np.ndarray, dimensions: int | None) -> np.ndarray:
    """Matryoshka-style truncation to ``dimensions``, renormalised to unit length."""
    if dimensions is None or dimensions == vector.shape[-1]:
        return vector
    cut = vector[:dimensions]
    norm = float(np.linalg.norm(cut))
    return cut / norm if norm > 0 else cut


def check_dimensions(dimensions: int | None, native: int, truncatable: bool, model: str) -> None:
    """400 unless ``dimensions`` is the native size or the model was trained to be truncated."""
    if dimensions is None or dimensions == native:
        return
    if not truncatable:
        raise InvalidInput(f"model {model!r} only produces {native}-dimensional vectors", param="dimensions",
                           code="unsupported_dimensions")
    if not 1 <= dimensions <= native:
        raise InvalidInput(f"dimensions must be between 1 and {native} for model {model!r}", param="dimensions",
                           code="unsupported_dimensions")


def embedding_response(
    vectors: Sequence[np.ndarray],
    *,
    model: str,
    space: str | None,
    encoding_format: EncodingFormat = "float",
    dimensions: int | None = None,
    tokens: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The encoders' answer. Each entry carries its input's ``tokens`` when the model counts them, so that a caller
    that sent several requests' inputs in one call (the gateway's coalescing) can bill each its own."""
    data = []
    for index, vector in enumerate(vectors):
        vec = shorten(np.asarray(vector, dtype=np.float32), dimensions)
        embedding: Any = vector_to_base64(vec) if encoding_format == "base64" else vec.astype(float).tolist()
        entry = {"object": "embedding", "index": index, "embedding": embedding}
        if tokens is not None:
            entry["tokens"] = tokens[index]
        data.append(entry)
    prompt_tokens = sum(tokens) if tokens is not None else 0
    size = len(shorten(np.asarray(vectors[0], dtype=np.float32), dimensions)) if vectors else 0
    return {
        "object": "list",
        "model": model,
        "space": space,
        "dimensions": size,
        "data": data,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
