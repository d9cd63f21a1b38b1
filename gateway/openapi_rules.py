"""Statuses every public operation can answer because of the layers in front of its route, added to the OpenAPI
document by rule instead of by hand on each of its operations (where one was always missing somewhere).

Every ``/v1`` operation passes authentication (401), the route's scope (403), the rate limiter (429) and calls
an upstream or Redis under a deadline (503, 504). An operation with a body can meet the strict intake (400, 413,
415: servekit/jsonbody.py, servekit/formfields.py) and name a model or resource that does not exist (404); one
with path or query parameters can get them refused (400) or not found (404).
"""

from __future__ import annotations

from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
EXTRA_RESPONSES: dict[str, dict[str, Any]] = {
    "Timeout": {"description": "The request's deadline passed before an upstream answered", "content": ERROR_CONTENT},
}
ALWAYS = {"401": "Unauthorized", "403": "Forbidden", "429": "TooManyRequests", "503": "Unavailable",
          "504": "Timeout"}
WITH_BODY = {"400": "BadRequest", "404": "NotFound", "413": "PayloadTooLarge", "415": "UnsupportedMediaType"}
WITH_PARAMETERS = {"400": "BadRequest", "404": "NotFound"}


def _has_parameters(path_item: dict[str, Any], operation: dict[str, Any]) -> bool:
    return bool(path_item.get("parameters") or operation.get("parameters"))


def complete_responses(document: dict[str, Any]) -> None:
    """Add, to each ``/v1`` operation, the statuses above that it does not document yet (in place)."""
    responses = document.setdefault("components", {}).setdefault("responses", {})
    for name, response in EXTRA_RESPONSES.items():
        responses.setdefault(name, response)
    for path, path_item in document.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for method in METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            wanted = dict(ALWAYS)
            if "requestBody" in operation:
                wanted.update(WITH_BODY)
            if _has_parameters(path_item, operation):
                wanted.update(WITH_PARAMETERS)
            answers = operation.setdefault("responses", {})
            for status, component in sorted(wanted.items()):
                answers.setdefault(status, {"$ref": f"#/components/responses/{component}"})
