"""The public OpenAPI document, merged from one YAML fragment per area, and the interactive docs page."""

from __future__ import annotations

import copy
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Response, jsonify, send_from_directory
from flask.typing import ResponseReturnValue

from gateway.openapi_rules import bound_url_values, complete_responses

FRAGMENTS = Path(__file__).parent / "openapi"

bp = Blueprint("openapi", __name__)

# Swagger UI 5 (swagger-ui-bundle-v2) renders OpenAPI 3.1; the key entered under "Authorize" stays in the tab
# (persistAuthorization, which would write it to localStorage, is off) and every operation can be tried.
_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>polyserve API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/static/polyserve-docs.js"></script>
</body></html>"""

# Inline scripts would need 'unsafe-inline' in the page's CSP, so the initialiser is a file of its own.
_DOCS_INIT = """window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  tryItOutEnabled: true, persistAuthorization: false, displayRequestDuration: true, filter: true});
"""


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)


@lru_cache(maxsize=1)
def build_document() -> dict[str, Any]:
    """base.yaml first, then every other fragment in name order, then the statuses every operation can answer and
    the bounds of values in the URL."""
    document: dict[str, Any] = yaml.safe_load((FRAGMENTS / "base.yaml").read_text())
    for path in sorted(FRAGMENTS.glob("*.yaml")):
        if path.name != "base.yaml":
            _merge(document, yaml.safe_load(path.read_text()) or {})
    complete_responses(document)
    bound_url_values(document)
    return document


@bp.get("/openapi.json")
def openapi_json() -> ResponseReturnValue:
    return jsonify(build_document())


@bp.get("/docs")
def docs() -> Response:
    return Response(_DOCS_PAGE, mimetype="text/html")


@lru_cache(maxsize=1)
def swagger_ui_dir() -> Path:
    """Swagger UI 5 from swagger-ui-bundle-v2, found through that distribution's own file list: the old
    swagger-ui-bundle (Swagger UI 4, no OpenAPI 3.1) ships the same module, and whichever of the two was installed
    last owns ``swagger_ui_bundle.swagger_ui_path``."""
    for file in metadata.files("swagger-ui-bundle-v2") or []:
        if file.name == "swagger-ui-bundle.js":
            return Path(str(file.locate())).parent
    raise RuntimeError("swagger-ui-bundle-v2 lists no swagger-ui-bundle.js")


@bp.get("/docs/static/<path:filename>")
def docs_static(filename: str) -> Response:
    if filename == "polyserve-docs.js":
        return Response(_DOCS_INIT, mimetype="text/javascript")
    return send_from_directory(swagger_ui_dir(), filename)
