"""``POST /v1/fuse``: one input fused into one vector (early, intermediate), or scores fused (late)."""

from __future__ import annotations

from typing import Any

import numpy as np

from servekit.codecs import vector_to_base64
from services.fusion.inputs import Inputs
from services.fusion.retrieval import describe
from services.fusion.runtime import FusionRuntime
from services.fusion.scoring import FusionOptions, fused_vector, fusion_space
from services.fusion.strategies import late_fuse, top


def fuse_vector(rt: FusionRuntime, inputs: Inputs, options: FusionOptions, allow_degraded: bool,
                encoding_format: str) -> dict[str, Any]:
    """Early or intermediate fusion of one input into one vector."""
    extraction = rt.extract_one(inputs, allow_degraded)
    space = fusion_space(extraction.features, options, extraction.paths)
    vector = fused_vector(extraction.features, space, options, rt.projections).astype(np.float32)
    embedding: Any = vector_to_base64(vector) if encoding_format == "base64" else vector.astype(float).tolist()
    return {"object": "fusion", "dimensions": int(vector.shape[0]), "embedding": embedding,
            **describe(options, space, extraction)}


def fuse_scores(scores: dict[str, dict[str, float]], options: FusionOptions, rrf_k: float,
                top_k: int | None) -> dict[str, Any]:
    """Late fusion of scores the caller already has (per modality or any other source)."""
    fused = late_fuse(scores, options.method, options.weights, rrf_k)
    ranked = top(fused, top_k or len(fused))
    return {"object": "fusion", "strategy": {"name": "late", "method": options.method,
                                             "weights": dict(options.weights)},
            "data": [{"id": key, "score": score} for key, score in ranked]}
