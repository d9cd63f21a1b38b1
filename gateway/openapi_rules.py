"""Statuses every public operation can answer because of the layers in front of its route, added to the OpenAPI
document by rule instead of by hand on each of its operations (where one was always missing somewhere).

Every ``/v1`` operation passes authentication (401), the route's scope (403), the rate limiter (429) and calls
an upstream or Redis under a deadline (503, 504). An operation with a body can meet the strict intake (400, 413,
415: servekit/jsonbody.py, servekit/formfields.py) and name a model or resource that does not exist (404); one
with path or query parameters can get them refused (400) or not found (404). Any request line over gunicorn's
8190 bytes is refused with a bare 414 before the app reads it; so that no request the document allows meets it,
every string in the URL states the gateway's ``MAX_URL_VALUE_CHARS`` bound (gateway/intake.py) as ``maxLength``.
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.intake import MAX_URL_VALUE_CHARS

METHODS = ("get", "post", "put", "patch", "delete")
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
EXTRA_RESPONSES: dict[str, dict[str, Any]] = {
    "Timeout": {"description": "The request's deadline passed before an upstream answered", "content": ERROR_CONTENT},
    "UriTooLong": {"description": "The request line is over 8190 bytes (refused by the HTTP server, as HTML): "
                                  "send long values in the body",
                   "content": {"text/html": {"schema": {"type": "string"}}}},
}
ALWAYS = {"401": "Unauthorized", "403": "Forbidden", "414": "UriTooLong", "429": "TooManyRequests",
          "503": "Unavailable", "504": "Timeout"}
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


def _resolved(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = document["components"][section][name]
    return node


def bound_url_values(document: dict[str, Any]) -> None:
    """Give every string path or query parameter of a ``/v1`` operation ``maxLength`` at most
    ``MAX_URL_VALUE_CHARS`` (in place; a schema named by ``$ref`` is copied first, as bodies share it)."""
    for path, path_item in document.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        operations = [path_item.get(method) or {} for method in METHODS]
        for parameter in [*path_item.get("parameters", []), *(p for o in operations for p in o.get("parameters", []))]:
            parameter = _resolved(document, parameter)
            schema = copy.deepcopy(_resolved(document, parameter.get("schema", {})))
            if schema.get("type") == "string":
                schema["maxLength"] = min(schema.get("maxLength", MAX_URL_VALUE_CHARS), MAX_URL_VALUE_CHARS)
                parameter["schema"] = schema
