"""Cross-modal retrieval over a collection: items encoded and stored, queries of any modality answered by
per-view vector search for candidates, then exact re-scoring of those candidates with the chosen strategy."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from servekit.errors import ApiError, InvalidInput
from services.fusion.features import Extraction
from services.fusion.filters import compile_filter
from services.fusion.inputs import Inputs
from services.fusion.rerank import RerankStage, query_text, rerank
from services.fusion.runtime import FusionRuntime
from services.fusion.scoring import FusionOptions, fused_vector, fusion_space, score_candidates
from services.fusion.store import ItemRecord, VectorRow
from services.fusion.strategies import in_space, top
from services.fusion.video.segments import describe_segment, group_by_video


def _record(item_id: str, metadata: dict[str, Any], inputs: Inputs, extraction: Extraction) -> ItemRecord:
    content = {
        "text": inputs.text,
        "modalities": [m for m in inputs.modalities() if m in extraction.features],
        "derived": extraction.derived,
        "paths": extraction.paths,
        "skipped": extraction.skipped,
        "updated": int(time.time()),
    }
    return ItemRecord(item_id, metadata, content)


def _rows(item_id: str, extraction: Extraction) -> list[VectorRow]:
    return [VectorRow(item_id, modality, space, vector)
            for modality, spaces in extraction.features.items() for space, vector in spaces.items()]


def upsert_items(rt: FusionRuntime, collection: str, items: Sequence[tuple[str, dict[str, Any], Inputs]],
                 allow_degraded: bool) -> list[dict[str, Any] | ApiError]:
    """Encode and store items (idempotent by id); one result per item, a failed item fails alone."""
    rt.store.require(collection)
    ids = [item_id for item_id, _, _ in items]
    if len(set(ids)) != len(ids):
        raise InvalidInput("item ids must be unique within one request", param="items", code="duplicate_ids")
    extractions = rt.extractor.extract([inputs for _, _, inputs in items], allow_degraded=allow_degraded,
                                       want_spaces=set(rt.store.spaces(collection)))
    records: list[ItemRecord] = []
    rows: list[VectorRow] = []
    results: list[dict[str, Any] | ApiError] = []
    for (item_id, metadata, inputs), extraction in zip(items, extractions, strict=True):
        if isinstance(extraction, ApiError):
            results.append(extraction)
            continue
        records.append(_record(item_id, metadata, inputs, extraction))
        rows.extend(_rows(item_id, extraction))
        results.append({"id": item_id, "status": "upserted", "degraded": extraction.degraded,
                        "skipped": extraction.skipped, "paths": extraction.paths})
    if records:
        rt.store.upsert(collection, records, rows)
    return results


def _candidates(rt: FusionRuntime, collection: str, query: Extraction, options: FusionOptions,
                space: str | None, limit: int, where: str) -> set[str]:
    """Items near any view of the query (per modality and space; early and intermediate fusion only look in
    their fusion space), plus, for intermediate fusion, items near the fused query vector."""
    stored = rt.store.spaces(collection)
    views = [(s, v) for spaces in query.features.values() for s, v in spaces.items()
             if s in stored and (space is None or s == space)]
    if space is not None and options.strategy == "intermediate":
        fused = (space, fused_vector(query.features, space, options, rt.projections))
        views = [fused] if len(views) == 1 and options.head is None else [*views, fused]
    found: set[str] = set()
    for view_space, vector in views:
        found.update(hit.item_id for hit in rt.store.search(collection, view_space, vector, limit, where))
    return found


def search(rt: FusionRuntime, collection: str, query_inputs: Inputs, options: FusionOptions, top_k: int,
           where: dict[str, Any] | None, allow_degraded: bool, stage: RerankStage | None = None,
           group_by: str | None = None) -> dict[str, Any]:
    """The collection's best items for the query; with ``group_by="video"``, its best videos, each with its best
    segments (the ranking looks at enough segments for ``top_k`` videos of ``video_group_size`` segments)."""
    rt.store.require(collection)
    if top_k > rt.settings.max_top_k:
        raise InvalidInput(f"top_k is at most {rt.settings.max_top_k}", param="top_k", code="top_k_too_large")
    if group_by is not None:
        grouped = search(rt, collection, query_inputs, options,
                         min(rt.settings.max_top_k, top_k * rt.settings.video_group_size * 4), where, allow_degraded,
                         stage)
        grouped["data"] = group_by_video(grouped["data"], top_k, rt.settings.video_group_size)
        grouped["group_by"] = group_by
        return grouped
    expression = compile_filter(where, indexed=rt.store.indexed(collection))
    stored = set(rt.store.spaces(collection))
    query = rt.extract_one(query_inputs, allow_degraded, want_spaces=stored)
    space = None
    if options.strategy != "late" and stored:
        space = fusion_space(query.features, options, query.paths, allowed=stored)
    wanted = top_k if stage is None else max(top_k, stage.candidates)
    candidates = _candidates(rt, collection, query, options, space, wanted * rt.settings.candidate_factor,
                             expression) if stored else set()
    vectors = rt.store.vectors(collection, sorted(candidates))
    scores, per_modality = score_candidates(query.features, vectors, options, space, rt.projections,
                                            rt.settings.rrf_k)
    ranked = top(scores, wanted)
    records = rt.store.get(collection, [item_id for item_id, _ in ranked])
    reranked = None
    if stage is not None:
        reranked = rerank(rt, stage, query_text(query_inputs, query), ranked[:stage.candidates], records)
        ranked = reranked.ranked + ranked[stage.candidates:]
    data = []
    for item_id, score in ranked[:top_k]:
        record = records.get(item_id)
        if record is None:  # deleted between the search and now
            continue
        entry = {"id": item_id, "score": score, "metadata": record.metadata, "text": record.content.get("text"),
                 "modalities": record.content.get("modalities", [])}
        if reranked is not None:
            entry.update(retrieval_score=score, score=reranked.relevance.get(item_id, score),
                         reranked=item_id in reranked.relevance)
        if per_modality:
            entry["modality_scores"] = {m: s[item_id] for m, s in per_modality.items() if item_id in s}
        segment = describe_segment(record)
        if segment is not None:
            entry["video"] = segment
        data.append(entry)
    answer = {"object": "list", "collection": collection, "data": data, **describe(options, space, query)}
    if stage is not None and reranked is not None:
        answer["rerank"] = {"model": reranked.model, "candidates": stage.candidates,
                            "reranked": len(reranked.relevance)}
    return answer


def describe(options: FusionOptions, space: str | None, query: Extraction) -> dict[str, Any]:
    """How the answer was computed: strategy, fusion space, the path of every query vector, what was skipped."""
    strategy: dict[str, Any] = {"name": options.strategy}
    if options.strategy == "late":
        strategy["method"] = options.method
    if options.weights:
        strategy["weights"] = dict(options.weights)
    if options.head is not None:
        strategy["head"] = f"{options.head.name}@v{options.head.version}"
    if space is not None:
        strategy["space"] = space
        strategy["modalities"] = sorted(in_space(query.features, space))
    return {"strategy": strategy, "paths": query.paths, "derived": query.derived,
            "degraded": query.degraded, "skipped": query.skipped}
