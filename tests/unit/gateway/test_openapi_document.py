"""The public OpenAPI document is valid and matches the gateway's routes exactly."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from gateway.app import create_app
from gateway.openapi_doc import build_document
from gateway.settings import GatewaySettings


def _documented() -> set[tuple[str, str]]:
    document = build_document()
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item
            if method in {"get", "post", "put", "patch", "delete"}}


def _served() -> set[tuple[str, str]]:
    app = create_app(GatewaySettings(api_keys="k"))
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method))
    return served


def test_document_is_valid_openapi() -> None:
    validate(build_document())


def test_every_public_route_is_documented_and_every_documented_route_exists() -> None:
    documented = {entry for entry in _documented() if entry[0].startswith("/v1/")}
    served = _served()
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "documented routes the gateway does not serve"
