"""The optional rerank stage of collection search: the best ``candidates`` of the strategy's ranking are read
again by a cross-encoder of the text service, next to the query, and reordered by its relevance score.

A candidate is read as its text plus its bridge texts (labels, OCR, caption, transcript), so images and audio
take part through what was derived from them; a query without text is read as its own bridge text. Candidates
with no text at all keep their strategy order after the reranked ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from servekit.client import CallContext
from servekit.errors import ApiError, InvalidInput
from services.fusion.features import Extraction
from services.fusion.inputs import Inputs
from services.fusion.store import ItemRecord

if TYPE_CHECKING:  # the runtime imports the request schemas, which import this module
    from services.fusion.runtime import FusionRuntime

MAX_CANDIDATES = 1000
# A cross-encoder reads at most a few hundred tokens: longer texts are cut before they travel.
MAX_DOCUMENT_CHARS = 4000


class RerankStage(BaseModel):
    """``"rerank": {"model": ..., "candidates": N}`` in a search request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(None, min_length=1, description="A cross-encoder of the text service; default: "
                              "the text service's first reranker.")
    candidates: int = Field(50, ge=1, le=MAX_CANDIDATES, description="How many of the strategy's best items the "
                            "cross-encoder reads; the answer's top_k come from them.")


@dataclass(frozen=True)
class Reranked:
    """The new order, each item's relevance (absent: not read, it had no text), and what answered."""

    ranked: list[tuple[str, float]]
    relevance: dict[str, float]
    model: str


def document_text(record: ItemRecord) -> str:
    """An item as the cross-encoder reads it: its text, then its bridge texts."""
    parts = [record.content.get("text") or "", *(record.content.get("derived") or {}).values()]
    return "\n".join(str(part).strip() for part in parts if str(part).strip())[:MAX_DOCUMENT_CHARS]


def query_text(inputs: Inputs, query: Extraction) -> str:
    """The query as the cross-encoder reads it; 400 when it has neither text nor bridge text."""
    text = inputs.text or "\n".join(query.derived.values())
    if not text.strip():
        raise InvalidInput("reranking reads text: this query has no text and nothing was derived from it",
                           param="rerank", code="rerank_needs_text")
    return text[:MAX_DOCUMENT_CHARS]


def rerank(rt: FusionRuntime, stage: RerankStage, query: str, ranked: Sequence[tuple[str, float]],
           records: Mapping[str, ItemRecord]) -> Reranked:
    """Reorder ``ranked`` (best first) by the cross-encoder's relevance to ``query``."""
    texts = {item_id: document_text(records[item_id]) for item_id, _ in ranked if item_id in records}
    readable = [item_id for item_id, _ in ranked if texts.get(item_id)]
    if not readable:
        return Reranked(list(ranked), {}, stage.model or "")
    body: dict[str, Any] = {"query": query, "documents": [texts[item_id] for item_id in readable]}
    if stage.model:
        body["model"] = stage.model
    try:
        answer = rt.encoders.call("text", "/v1/rerank", body, CallContext.capture())
    except ApiError as error:
        if error.param == "model":
            error.param = "rerank.model"
        raise
    relevance = {readable[r["index"]]: float(r["relevance_score"]) for r in answer["results"]}
    order = sorted(readable, key=lambda item_id: -relevance[item_id])
    scores = dict(ranked)
    rest = [(item_id, score) for item_id, score in ranked if item_id not in relevance]
    return Reranked([(item_id, scores[item_id]) for item_id in order] + rest, relevance, str(answer["model"]))
