"""``GET /v1/models``: every model of every reachable upstream, in OpenAI's list shape."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from gateway.upstreams import FANOUT_EXECUTOR, upstream
from servekit.catalog import ENCODERS, modality_of
from servekit.errors import ModelNotFound
from servekit.fanout import fan_out

bp = Blueprint("models", __name__, url_prefix="/v1")



def _public(entry: dict[str, Any], service: str) -> dict[str, Any]:
    return {
        "id": entry["id"],
        "object": "model",
        "created": 0,
        "owned_by": "polyserve",
        "modality": modality_of(service),
        "tasks": entry.get("tasks", []),
        "space": entry.get("space"),
        "dimensions": entry.get("dimensions"),
        "status": entry.get("status"),
    }


def _all_models() -> list[dict[str, Any]]:
    executor = FANOUT_EXECUTOR.current()
    services = list(ENCODERS)

    def call(service: str) -> Any:
        client = upstream(service)  # resolved here: the call runs on a pool thread, outside the app context
        return lambda ctx: client.get_json("/v1/models", timeout_s=3.0, context=ctx)

    answers = fan_out(executor, [call(s) for s in services])
    models: list[dict[str, Any]] = []
    for service, answer in zip(services, answers, strict=True):
        if isinstance(answer, dict):  # an unreachable upstream simply lists nothing
            models.extend(_public(entry, service) for entry in answer.get("data", []))
    return models


@bp.get("/models")
def list_models() -> ResponseReturnValue:
    return jsonify(object="list", data=_all_models())


@bp.get("/models/<path:model_id>")
def retrieve_model(model_id: str) -> ResponseReturnValue:
    for model in _all_models():
        if model["id"] == model_id:
            return jsonify(model)
    raise ModelNotFound(f"model {model_id!r} does not exist", param="model")
