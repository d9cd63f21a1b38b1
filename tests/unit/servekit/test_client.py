from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask, g, jsonify, request

from servekit.app import create_service_app
from servekit.client import CallContext, ServiceClient, UpstreamError
from servekit.errors import DeadlineExceeded, InvalidInput, Overloaded, UpstreamUnavailable
from servekit.fanout import fan_out
from servekit.settings import ServiceSettings
from tests.support.inprocess import serve_app
from tests.support.processes import dead_url

IN_FLIGHT = {"now": 0, "max": 0}
IN_FLIGHT_LOCK = threading.Lock()


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    app = create_service_app("upstream", ServiceSettings(internal_token="tok"))

    @app.get("/v1/echo-headers")
    def echo_headers() -> object:
        return jsonify(request_id=g.request_id, timeout_ms=request.headers.get("X-Request-Timeout-Ms"))

    @app.post("/v1/echo")
    def echo() -> object:
        return jsonify(request.get_json())

    @app.get("/v1/bad")
    def bad() -> object:
        raise InvalidInput("input[2] is empty", param="input[2]", code="empty_input")

    @app.get("/v1/busy")
    def busy() -> object:
        raise Overloaded(retry_after_s=4)

    @app.get("/v1/slow")
    def slow() -> object:
        with IN_FLIGHT_LOCK:
            IN_FLIGHT["now"] += 1
            IN_FLIGHT["max"] = max(IN_FLIGHT["max"], IN_FLIGHT["now"])
        time.sleep(float(request.args.get("s", "1")))
        with IN_FLIGHT_LOCK:
            IN_FLIGHT["now"] -= 1
        return jsonify(done=True)

    with serve_app(app) as url:
        yield url


def test_token_request_id_and_deadline_travel_downstream(upstream_url: str) -> None:
    client = ServiceClient("up", upstream_url, token="tok")
    context = CallContext(request_id="rid-1", deadline=time.monotonic() + 5)
    body = client.get_json("/v1/echo-headers", context=context)
    assert body["request_id"] == "rid-1"
    assert 4000 <= int(body["timeout_ms"]) <= 5000


def test_json_bodies_arrive_as_sent_big_integers_and_lone_surrogates_included(upstream_url: str) -> None:
    """Found by fuzzing: relayed bodies may hold what orjson refuses to write (a 500 at the gateway)."""
    body = {"n": 2**70, "s": "a\ud889b", "f": 1.5, "nested": [{"x": None}]}
    assert ServiceClient("up", upstream_url, token="tok").post_json("/v1/echo", body) == body


def test_missing_token_is_refused_by_the_upstream(upstream_url: str) -> None:
    with pytest.raises(UpstreamError) as error:
        ServiceClient("up", upstream_url).get_json("/v1/echo-headers")
    assert (error.value.status, error.value.code) == (401, "invalid_internal_token")


def test_upstream_errors_are_relayed_with_status_code_param_and_retry_after(upstream_url: str) -> None:
    client = ServiceClient("up", upstream_url, token="tok")
    with pytest.raises(UpstreamError) as bad:
        client.get_json("/v1/bad")
    assert (bad.value.status, bad.value.code, bad.value.param) == (400, "empty_input", "input[2]")
    with pytest.raises(UpstreamError) as busy:
        client.get_json("/v1/busy")
    assert busy.value.status == 503 and busy.value.headers == {"Retry-After": "4"}


def test_unreachable_upstream_is_a_quick_503() -> None:
    client = ServiceClient("text", dead_url())
    with pytest.raises(UpstreamUnavailable) as error:
        client.get_json("/v1/models")
    assert error.value.code == "text_unavailable"


def test_the_deadline_bounds_the_call(upstream_url: str) -> None:
    client = ServiceClient("up", upstream_url, token="tok")
    with pytest.raises(DeadlineExceeded):
        client.get_json("/v1/slow", params={"s": "2"}, context=CallContext(deadline=time.monotonic() + 0.3))
    with pytest.raises(DeadlineExceeded):
        client.get_json("/v1/slow", context=CallContext(deadline=time.monotonic() - 1))


def test_fan_out_runs_calls_in_parallel_within_one_deadline(upstream_url: str) -> None:
    client = ServiceClient("up", upstream_url, token="tok")
    app = Flask("fan")
    with app.test_request_context("/"), ThreadPoolExecutor(4) as pool:
        g.request_id, g.deadline = "fan-1", time.monotonic() + 10
        seen: list[str] = []
        lock = threading.Lock()

        def call(ctx: CallContext) -> object:
            with lock:
                seen.append(str(ctx.request_id))
            return client.get_json("/v1/slow", params={"s": "0.5"}, context=ctx)

        def fail(ctx: CallContext) -> object:
            return client.get_json("/v1/bad", context=ctx)

        IN_FLIGHT["max"] = 0
        results = fan_out(pool, [call, call, call, fail])
    assert results[:3] == [{"done": True}] * 3
    assert isinstance(results[3], UpstreamError)
    assert seen == ["fan-1"] * 3
    assert IN_FLIGHT["max"] >= 3, "the calls ran one after another, not in parallel"


def test_proxy_settings_are_read_from_the_environment_once_when_the_client_is_built(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "text.internal")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/internal-ca.pem")
    proxied = ServiceClient("fusion", "http://fusion.example:8084")
    bypassed = ServiceClient("text", "http://text.internal:8081")
    assert proxied._session.proxies.get("http") == "http://proxy.example:3128"
    assert "http" not in bypassed._session.proxies
    assert proxied._session.verify == "/etc/ssl/internal-ca.pem"
    monkeypatch.setenv("HTTP_PROXY", "http://another.example:3128")  # read at build time, not per call
    assert not proxied._session.trust_env
    assert proxied._session.proxies.get("http") == "http://proxy.example:3128"
    # buffered calls skip requests only where it has nothing to add: plain HTTP, no proxy
    assert proxied._direct is None and bypassed._direct is not None
    assert ServiceClient("tls", "https://text.internal:8443")._direct is None
