"""The fusion arithmetic, free of I/O: early (weighted concatenation), intermediate (weighted mean in a shared
space) and late (weighted sum, max, reciprocal-rank fusion of per-modality scores).

Vectors are numpy arrays; a feature set maps modality -> space -> vector. docs/fusion.md gives each formula.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from servekit.catalog import MODALITIES

Strategy = Literal["early", "intermediate", "late"]
LateMethod = Literal["weighted_sum", "max", "rrf"]
Features = Mapping[str, Mapping[str, np.ndarray]]


def normalise(vector: np.ndarray) -> np.ndarray:
    """Unit length (a zero vector stays zero)."""
    vector = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(normalise(a) @ normalise(b))


def weight_of(weights: Mapping[str, float], modality: str) -> float:
    return float(weights.get(modality, 1.0))


def in_space(features: Features, space: str) -> dict[str, np.ndarray]:
    """Modality -> vector for the modalities that have a vector in ``space``."""
    return {m: spaces[space] for m, spaces in features.items() if space in spaces}


def weighted_mean(vectors: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Intermediate fusion, untrained: f = n(sum_m w_m n(v_m))."""
    total = sum(weight_of(weights, m) * normalise(v) for m, v in vectors.items())
    return normalise(np.asarray(total))


def early_blocks(vectors: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Early fusion: z = [sqrt(w_t) b_t ; sqrt(w_i) b_i ; sqrt(w_a) b_a] with b_m = n(v_m).

    A missing modality's block is imputed with the normalised mean of the present blocks (they share one
    space), so that a text-only query can still meet an image-only item; with no vector at all z is zero.
    """
    present = [normalise(v) for v in vectors.values()]
    if not present:
        raise ValueError("early fusion needs at least one vector")
    imputed = normalise(np.mean(present, axis=0))
    blocks = [np.sqrt(weight_of(weights, m)) * (normalise(vectors[m]) if m in vectors else imputed)
              for m in MODALITIES]
    return np.concatenate(blocks)


def projection_matrix(in_dim: int, out_dim: int, seed: int) -> np.ndarray:
    """A fixed Gaussian random projection (Johnson-Lindenstrauss): cosines survive approximately."""
    rng = np.random.default_rng(seed)
    matrix: np.ndarray = rng.standard_normal((out_dim, in_dim)) / np.sqrt(out_dim)
    return matrix


def early_vector(vectors: Mapping[str, np.ndarray], weights: Mapping[str, float],
                 projection: np.ndarray | None = None) -> np.ndarray:
    """The joint vector of early fusion, unit length, optionally projected: n(P z)."""
    joint = early_blocks(vectors, weights)
    if projection is not None:
        joint = projection @ joint
    return normalise(joint)


def best_similarity(query: Mapping[str, np.ndarray], item: Features) -> float | None:
    """One query modality (space -> vector, in order of preference) against an item: in the first space the
    item also has, the best cosine over the item's modalities there; None when no space is shared.

    Spaces are not mixed: cosines of different spaces have different scales (an audio encoder's own space
    finds all speech alike), so a semantic space shared through a joint model or the text bridge wins."""
    for space, vector in query.items():
        scores = [cosine(vector, spaces[space]) for spaces in item.values() if space in spaces]
        if scores:
            return max(scores)
    return None


def late_weighted_sum(scores: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """S = sum_q w_q s_q / sum_q w_q over the query modalities."""
    total_weight = sum(weight_of(weights, m) for m in scores)
    if total_weight <= 0:
        return 0.0
    return sum(weight_of(weights, m) * s for m, s in scores.items()) / total_weight


def late_max(scores: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """S = max_q w_q s_q."""
    return max((weight_of(weights, m) * s for m, s in scores.items()), default=0.0)


def ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """1-based ranks, best score first; ties keep the order given."""
    ordered = sorted(scores, key=lambda key: -scores[key])
    return {key: position + 1 for position, key in enumerate(ordered)}


def reciprocal_rank_fusion(rankings: Mapping[str, Mapping[str, int]], weights: Mapping[str, float],
                           k: float) -> dict[str, float]:
    """RRF: S(d) = sum_q w_q / (k + rank_q(d)) over the rankings that rank d."""
    fused: dict[str, float] = {}
    for modality, ranking in rankings.items():
        for doc, rank in ranking.items():
            fused[doc] = fused.get(doc, 0.0) + weight_of(weights, modality) / (k + rank)
    return fused


def late_fuse(per_modality: Mapping[str, Mapping[str, float]], method: LateMethod,
              weights: Mapping[str, float], rrf_k: float) -> dict[str, float]:
    """Candidates' per-modality scores (modality -> candidate -> score) fused into one score each."""
    if method == "rrf":
        return reciprocal_rank_fusion({m: ranks(s) for m, s in per_modality.items()}, weights, rrf_k)
    everyone = {candidate for scores in per_modality.values() for candidate in scores}
    # A candidate a modality did not score counts 0 there: matching fewer modalities never helps.
    candidates = {c: {m: scores.get(c, 0.0) for m, scores in per_modality.items()} for c in everyone}
    combine = late_weighted_sum if method == "weighted_sum" else late_max
    return {candidate: combine(scores, weights) for candidate, scores in candidates.items()}


def top(scores: Mapping[str, float], k: int) -> list[tuple[str, float]]:
    return sorted(scores.items(), key=lambda pair: -pair[1])[:k]


def choose_fusion_space(features: Features, preferred: Sequence[str] = ()) -> str | None:
    """The space shared by the most modalities; ties go to a space in ``preferred`` order (joint spaces
    before the bridge space), then to name order."""
    coverage: dict[str, int] = {}
    for spaces in features.values():
        for space in spaces:
            coverage[space] = coverage.get(space, 0) + 1
    if not coverage:
        return None
    order = {space: position for position, space in enumerate(preferred)}
    return min(coverage, key=lambda s: (-coverage[s], order.get(s, len(order)), s))
