"""``POST /v1/fuse`` (one fused vector, or fused scores) and ``POST /v1/classifications`` (zero-shot)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from servekit.errors import InvalidInput
from servekit.validation import parse_json
from services.fusion.classification import classify, fuse_scores, fuse_vector
from services.fusion.runtime import runtime
from services.fusion.schemas import ClassifyRequest, FuseRequest

bp = Blueprint("fusion_inference", __name__, url_prefix="/v1")


@bp.post("/fuse")
def fuse() -> Any:
    rt = runtime()
    body = parse_json(FuseRequest)
    options = rt.options(body)
    if body.scores is not None and body.strategy == "late":  # FuseRequest guarantees one or the other
        return jsonify(fuse_scores(body.scores, options, rt.settings.rrf_k, body.top_k))
    if body.input is None:
        raise InvalidInput(f"{body.strategy} fusion builds a vector: give 'input'", param="input",
                           code="missing_input")
    return jsonify(fuse_vector(rt, body.input.inputs(), options, body.allow_degraded, body.encoding_format))


@bp.post("/classifications")
def classifications() -> Any:
    rt = runtime()
    body = parse_json(ClassifyRequest)
    options = rt.options(body)
    return jsonify(classify(rt, body.input.inputs(), body.labels, options, body.allow_degraded))
