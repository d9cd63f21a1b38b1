"""Regressions of server errors found by fuzzing the public API (issue 13): each input below once gave a 500.

The gateway runs in process with its upstreams on closed ports: these inputs must be refused by the gateway
itself, before any upstream is called.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from gateway.app import create_app
from gateway.cache import input_digest
from gateway.settings import GatewaySettings
from servekit.client import UpstreamError
from servekit.errors import InvalidInput
from servekit.items import per_item_data, raise_first_failure
from tests.support.processes import free_port

KEY = "sk-robust"
AUTH = {"Authorization": f"Bearer {KEY}"}
NAMELESS_MULTIPART = (b'--b\r\nContent-Disposition: form-data\r\n\r\nno name\r\n'
                      b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nxx\r\n'
                      b'--b\r\nContent-Disposition: form-data; filename="b.png"\r\n\r\nyy\r\n--b--\r\n')
MULTIPART = "multipart/form-data; boundary=b"


@pytest.fixture(scope="module")
def app() -> Flask:
    dead: dict[str, Any] = {f"{name}_url": f"http://127.0.0.1:{free_port()}"
                            for name in ("text", "vision", "audio", "fusion")}
    return create_app(GatewaySettings(api_keys=KEY, log_level="WARNING", **dead))


def _error_code(answer: Any) -> str:
    body = answer.get_json()
    assert isinstance(body, dict) and "error" in body, answer.get_data(as_text=True)
    return str(body["error"]["code"])


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/images/captions", "/v1/fuse", "/v1/audio/transcriptions",
                                  "/v1/collections/docs/search", "/v1/jobs/embeddings"])
@pytest.mark.parametrize(("body", "code"), [
    ("[" * 100_000 + "]" * 100_000, "json_too_deep"),
    ('{"model": "m", "input": [NaN]}', "invalid_number"),
    ('{"model": "m", "input": "x", "max_new_tokens": 1e999}', "invalid_number"),
    ('{"model": "m", "model": "n", "input": "x"}', "duplicate_key"),
])
def test_malformed_json_is_refused_by_the_gateway(app: Flask, path: str, body: str, code: str) -> None:
    answer = app.test_client().post(path, data=body, content_type="application/json", headers=AUTH)
    assert answer.status_code == 400
    assert _error_code(answer) == code


@pytest.mark.parametrize("path", ["/v1/images/classifications", "/v1/images/ocr", "/v1/images/captions",
                                  "/v1/audio/transcriptions", "/v1/jobs/audio/transcriptions"])
def test_multipart_parts_without_names_are_refused(app: Flask, path: str) -> None:
    answer = app.test_client().post(path, data=NAMELESS_MULTIPART, content_type=MULTIPART, headers=AUTH)
    assert answer.status_code == 400
    assert _error_code(answer) == "invalid_multipart"


def test_the_cache_key_is_total_over_nameless_parts(app: Flask) -> None:
    """The key once sorted ``None`` names against strings and took ``len(None)``."""
    with app.test_request_context("/v1/images/ocr", method="POST", data=NAMELESS_MULTIPART, content_type=MULTIPART):
        first = input_digest()
    with app.test_request_context("/v1/images/ocr", method="POST", data=NAMELESS_MULTIPART, content_type=MULTIPART):
        assert input_digest() == first


def test_unauthenticated_bodies_are_not_parsed(app: Flask) -> None:
    answer = app.test_client().post("/v1/embeddings", data="[" * 1000, content_type="application/json")
    assert answer.status_code == 401


def _upstream_error() -> UpstreamError:
    return UpstreamError(422, {"error": {"message": "undecodable image", "code": "invalid_image",
                                         "type": "invalid_request_error", "param": None}}, {"Retry-After": "1"})


def test_an_item_failing_upstream_is_reported_with_its_index() -> None:
    """``servekit/items.py`` rebuilt errors with ``type(error)(message, param=...)``, which UpstreamError refuses."""
    with pytest.raises(UpstreamError) as raised:
        per_item_data([_upstream_error()], render=dict, param="items")
    error = raised.value
    assert (error.status, error.code, error.param) == (422, "invalid_image", "items[0]")
    assert error.message == "items[0]: undecodable image" and error.headers == {"Retry-After": "1"}
    with pytest.raises(UpstreamError) as first:
        raise_first_failure([{"ok": 1}, _upstream_error()])
    assert first.value.param == "input[1]"


def test_a_partly_failed_request_keeps_the_original_error_untouched() -> None:
    original = InvalidInput("bad", code="bad_item")
    data = per_item_data([{"v": 1}, original], render=dict)
    assert data[1]["error"]["param"] == "input[1]" and original.param is None
