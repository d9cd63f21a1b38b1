"""A request's fusion options applied to feature sets: the fused vector of one input, and the scores of
candidates (stored items, or candidate labels) against a query under early, intermediate or late fusion."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from servekit.errors import UnprocessableInput
from services.fusion.heads import TrainedHead
from services.fusion.strategies import (
    Features,
    LateMethod,
    Strategy,
    best_similarity,
    choose_fusion_space,
    early_vector,
    in_space,
    late_fuse,
    projection_matrix,
    weighted_mean,
)


@dataclass(frozen=True)
class FusionOptions:
    strategy: Strategy = "intermediate"
    method: LateMethod = "weighted_sum"
    weights: Mapping[str, float] = field(default_factory=dict)
    head: TrainedHead | None = None


class Projections:
    """The fixed early-fusion projection per input size (0 = none), built once."""

    def __init__(self, out_dim: int, seed: int) -> None:
        self.out_dim = out_dim
        self.seed = seed
        self._cache: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def for_size(self, in_dim: int) -> np.ndarray | None:
        if not self.out_dim:
            return None
        with self._lock:
            if in_dim not in self._cache:
                self._cache[in_dim] = projection_matrix(in_dim, self.out_dim, self.seed)
            return self._cache[in_dim]


PATH_RANK = {"joint": 0, "direct": 1, "bridge": 1, "native": 2}


def path_rank(path: str) -> int:
    """Joint spaces first (they compare modalities directly), then the text space (direct or bridged),
    then an encoder's own space."""
    return PATH_RANK.get(path.split(":", 1)[0], 3)


def preferred_spaces(paths: list[dict[str, Any]]) -> list[str]:
    ranked = sorted(paths, key=lambda p: path_rank(str(p["path"])))
    return list(dict.fromkeys(str(p["space"]) for p in ranked))


def fusion_space(query: Features, options: FusionOptions, paths: list[dict[str, Any]],
                 allowed: Collection[str] | None = None) -> str:
    """The one space early / intermediate fusion works in: the head's, else the one most modalities share."""
    restricted = {m: {s: v for s, v in spaces.items() if allowed is None or s in allowed}
                  for m, spaces in query.items()}
    if options.head is not None:
        if not in_space(restricted, options.head.space):
            raise UnprocessableInput(f"fusion head {options.head.name!r} works in space {options.head.space!r}, "
                                     "where this input has no vector", param="head", code="head_space_mismatch")
        return options.head.space
    space = choose_fusion_space(restricted, preferred_spaces(paths))
    if space is None:
        raise UnprocessableInput("the input shares no embedding space with what it is compared to",
                                 code="no_shared_space")
    return space


def fused_vector(features: Features, space: str, options: FusionOptions, projections: Projections) -> np.ndarray:
    """One vector for one input: early (joint concatenation) or intermediate (head, or weighted mean)."""
    vectors = in_space(features, space)
    if options.strategy == "early":
        size = 3 * len(next(iter(vectors.values())))
        return early_vector(vectors, options.weights, projections.for_size(size))
    if options.head is not None:
        return options.head.fuse(vectors)
    return weighted_mean(vectors, options.weights)


def per_modality_scores(query: Features, candidates: Mapping[str, Features]) -> dict[str, dict[str, float]]:
    """Query modality -> candidate -> best cosine over the candidate's modalities in a shared space."""
    table: dict[str, dict[str, float]] = {}
    for modality, spaces in query.items():
        scores = {}
        for key, features in candidates.items():
            score = best_similarity(spaces, features)
            if score is not None:
                scores[key] = score
        table[modality] = scores
    return table


def score_candidates(query: Features, candidates: Mapping[str, Features], options: FusionOptions,
                     space: str | None, projections: Projections,
                     rrf_k: float) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Fused score per candidate, and the per-modality scores late fusion combined (empty otherwise)."""
    if options.strategy == "late":
        table = per_modality_scores(query, candidates)
        return late_fuse(table, options.method, options.weights, rrf_k), table
    if space is None:  # nothing stored shares a space with the query (an empty collection, say): no candidates
        return {}, {}
    fused_query = fused_vector(query, space, options, projections)
    scores = {key: float(fused_query @ fused_vector(features, space, options, projections))
              for key, features in candidates.items() if in_space(features, space)}
    return scores, {}
