"""Operator routes (scope ``admin``): empty the result cache, for instance after replacing weights in place."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from gateway.cache import RESULT_CACHE
from servekit.errors import NotFound

bp = Blueprint("admin", __name__, url_prefix="/v1/admin")


@bp.delete("/cache")
def clear_cache() -> ResponseReturnValue:
    cache = RESULT_CACHE.current_or_none()
    if cache is None:
        raise NotFound("the result cache is disabled (GATEWAY_CACHE_ENABLED=false)", code="cache_disabled")
    return jsonify(object="cache", cleared=cache.store.clear())
