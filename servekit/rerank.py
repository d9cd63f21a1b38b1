"""The rerank API shape (Cohere / Jina): ``query``, ``documents`` (strings, or objects with a ``text``),
``top_n``, ``return_documents`` -> ``results: [{index, relevance_score, document?}]`` best first, and ``usage``.

Served by the text service's cross-encoders; the gateway forwards the public request to it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from servekit.errors import InvalidInput

MAX_QUERY_CHARS = 20_000


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, min_length=1)
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    documents: list[str | dict[str, Any]] = Field(min_length=1)
    top_n: int | None = Field(None, ge=1, description="Return the best n results (all when absent).")
    return_documents: bool = Field(False, description="Echo each document in its result.")

    @field_validator("query")
    @classmethod
    def _query_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query is blank")
        return value


def document_texts(documents: Sequence[str | dict[str, Any]], max_documents: int, max_chars: int) -> list[str]:
    """The text of every document, or a 400 naming the first bad one."""
    if len(documents) > max_documents:
        raise InvalidInput(f"at most {max_documents} documents per request, got {len(documents)}",
                           param="documents", code="too_many_documents")
    texts: list[str] = []
    for index, document in enumerate(documents):
        param = f"documents[{index}]"
        text = document.get("text") if isinstance(document, dict) else document
        if not isinstance(text, str):
            raise InvalidInput(f"{param} must be a string or an object with a string 'text'", param=param,
                               code="invalid_document")
        if not text.strip():
            raise InvalidInput(f"{param} is empty", param=param, code="empty_input")
        if len(text) > max_chars:
            raise InvalidInput(f"{param} is longer than {max_chars} characters", param=param,
                               code="input_too_long")
        texts.append(text)
    return texts


def rerank_results(scores: Sequence[float], request: RerankRequest) -> list[dict[str, Any]]:
    """Documents ordered by score (ties keep input order), cut to ``top_n``, echoed if asked."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:request.top_n]
    results: list[dict[str, Any]] = []
    for index in order:
        result: dict[str, Any] = {"index": index, "relevance_score": float(scores[index])}
        if request.return_documents:
            document = request.documents[index]
            result["document"] = document if isinstance(document, dict) else {"text": document}
        results.append(result)
    return results
