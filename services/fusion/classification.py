"""Multimodal zero-shot classification.

Candidate labels are texts: each is embedded by every text model whose space the input has vectors in, and
then scored against the input like a stored item is scored against a query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from servekit.errors import ApiError
from servekit.fanout import fan_out
from servekit.items import about_item
from services.fusion.encoders import modality_unavailable
from services.fusion.features import AnswerKey, TextChunks
from services.fusion.inputs import Inputs
from services.fusion.retrieval import describe
from services.fusion.runtime import FusionRuntime
from services.fusion.scoring import FusionOptions, fusion_space, score_candidates
from services.fusion.strategies import Features, normalise, top


def embed_labels(rt: FusionRuntime, labels: Sequence[str], spaces: set[str]) -> dict[str, Features]:
    """label -> {"text": {space: vector}} for every text model serving one of ``spaces``."""
    try:
        models = [m for m in rt.encoders.models("text") if "embed" in m.tasks and m.space in spaces]
    except ApiError as error:
        raise modality_unavailable("text", error) from None
    chunks = TextChunks(rt.encoders, rt.settings.text_batch_size)
    for model in models:
        for index, label in enumerate(labels):
            chunks.add((index, AnswerKey("text", model.id)), label, model.id)
    calls = chunks.calls()
    features: dict[str, dict[str, dict[str, np.ndarray]]] = {label: {"text": {}} for label in labels}
    for (index, _), result in TextChunks.spread(calls, fan_out(rt.executor, [call for _, call in calls])):
        if isinstance(result, ApiError):
            if result.status >= 500:
                raise modality_unavailable("text", result)
            raise about_item(result, "labels", index)
        if isinstance(result, Exception):
            raise result
        features[labels[index]]["text"][result.space] = normalise(result.vector)
    return {label: value for label, value in features.items()}


def classify(rt: FusionRuntime, inputs: Inputs, labels: list[str], options: FusionOptions,
             allow_degraded: bool) -> dict[str, Any]:
    extraction = rt.extract_one(inputs, allow_degraded)
    spaces = {s for per_space in extraction.features.values() for s in per_space}
    label_features = embed_labels(rt, labels, spaces)
    label_spaces = {s for f in label_features.values() for s in f["text"]}
    space = None
    if options.strategy != "late":
        space = fusion_space(extraction.features, options, extraction.paths, allowed=label_spaces)
    scores, per_modality = score_candidates(extraction.features, label_features, options, space,
                                            rt.projections, rt.settings.rrf_k)
    ranked = [{"label": label, "score": score} for label, score in top(scores, len(labels))]
    body: dict[str, Any] = {"object": "classification", "labels": ranked}
    if per_modality:
        body["modality_scores"] = {m: [{"label": label, "score": score} for label, score in top(s, len(labels))]
                                   for m, s in per_modality.items()}
    return {**body, **describe(options, space, extraction)}
