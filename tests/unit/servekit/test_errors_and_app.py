from __future__ import annotations

import logging

import pytest
from flask import Flask

from servekit.app import create_service_app
from servekit.errors import InvalidInput, Overloaded
from servekit.settings import ServiceSettings


@pytest.fixture()
def app() -> Flask:
    settings = ServiceSettings(max_body_bytes=2048, internal_token="secret")
    app = create_service_app("unit", settings)

    @app.post("/v1/echo")
    def echo() -> dict[str, str]:
        from servekit.validation import require_json

        return {"got": str(require_json())}

    @app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internal detail /etc/passwd")

    @app.get("/v1/bad")
    def bad() -> None:
        raise InvalidInput("nope", param="input", code="custom_code")

    @app.get("/v1/busy")
    def busy() -> None:
        raise Overloaded(retry_after_s=3)

    return app


AUTH = {"X-Internal-Token": "secret"}


def assert_error_shape(body: dict[str, object], code: str) -> None:
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("get", "/nowhere", {}, 404, "not_found"),
        ("delete", "/v1/echo", {}, 405, "method_not_allowed"),
        ("post", "/v1/echo", {"data": "x" * 5000, "content_type": "application/json"}, 413, "payload_too_large"),
        ("post", "/v1/echo", {"data": "hello", "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ("post", "/v1/echo", {"data": "{not json", "content_type": "application/json"}, 400, "invalid_json"),
        ("get", "/v1/bad", {}, 400, "custom_code"),
    ],
)
def test_every_error_has_the_one_json_shape(app: Flask, method: str, path: str, kwargs: dict[str, object],
                                            status: int, code: str) -> None:
    response = getattr(app.test_client(), method)(path, headers=AUTH, **kwargs)
    assert response.status_code == status
    assert response.is_json
    assert_error_shape(response.get_json(), code)


def test_internal_errors_leak_no_detail_but_are_logged(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/v1/boom", headers=AUTH)
    assert response.status_code == 500
    body = response.get_json()
    assert_error_shape(body, "internal_error")
    assert "passwd" not in response.get_data(as_text=True)
    assert response.headers["X-Request-ID"] in body["error"]["message"]
    assert any("passwd" in (r.exc_text or "") for r in caplog.records)


def test_overloaded_sets_retry_after(app: Flask) -> None:
    response = app.test_client().get("/v1/busy", headers=AUTH)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "3"


def test_internal_token_is_required_except_for_health_and_metrics(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/v1/echo", json={}).status_code == 401
    assert client.post("/v1/echo", json={}, headers={"X-Internal-Token": "wrong"}).status_code == 401
    assert client.post("/v1/echo", json={"a": 1}, headers=AUTH).status_code == 200
    for path in ("/healthz", "/readyz", "/metrics"):
        assert client.get(path).status_code == 200


def test_request_id_is_accepted_or_generated_and_echoed(app: Flask) -> None:
    client = app.test_client()
    given = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert made.headers["X-Request-ID"] not in ("", "bad id with spaces")


def test_readiness_follows_the_check() -> None:
    state = {"ready": False}
    app = create_service_app("unit", ServiceSettings(), ready_check=lambda: (state["ready"], {"models": {}}))
    client = app.test_client()
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    state["ready"] = True
    assert client.get("/readyz").status_code == 200


def test_metrics_count_requests_by_route_and_status(app: Flask) -> None:
    client = app.test_client()
    client.get("/v1/bad", headers=AUTH)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'http_requests_total{method="GET",route="/v1/bad",service="unit",status="400"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text
