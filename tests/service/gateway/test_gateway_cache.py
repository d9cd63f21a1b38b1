"""The result cache: a repeated request is answered byte for byte from the store, without recomputation."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.app import create_app
from gateway.cache import ResultCache, input_digest
from tests.conftest import TEXT_TOKEN
from tests.support.gateway import gateway_settings

AUTH = {"Authorization": "Bearer sk-cache"}

pytest_plugins = ["tests.support.redis_fixtures"]


def _app(text_url: str, **extra: Any) -> Flask:
    return create_app(gateway_settings({"text": text_url}, api_keys="sk-cache,sk-other", internal_token=TEXT_TOKEN,
                                       **extra))


@pytest.fixture(scope="module")
def app(text_url: str) -> Flask:
    return _app(text_url)


def _text_requests(text_app: Flask) -> float:
    """How many embed requests the text service has answered (its own Prometheus counter)."""
    registry = text_app.extensions["metrics"].registry
    total = 0.0
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name.endswith("requests_total") and "/v1/embed" in str(sample.labels.values()):
                total += sample.value
    return total


def embed(client: FlaskClient, text: str, headers: dict[str, str] | None = None, **extra: Any) -> Any:
    body = {"model": "all-MiniLM-L6-v2", "input": [text, "a second input"], **extra}
    return client.post("/v1/embeddings", json=body, headers={**AUTH, **(headers or {})})


def test_a_hit_is_byte_identical_to_the_miss_and_is_not_recomputed(app: Flask, text_app: Flask) -> None:
    client = app.test_client()
    before = _text_requests(text_app)
    miss = embed(client, "cache me once")
    assert miss.status_code == 200 and miss.headers["X-Cache"] == "MISS"
    computed = _text_requests(text_app)
    assert computed > before  # the miss reached the encoder
    hit = embed(client, "cache me once")
    assert hit.status_code == 200 and hit.headers["X-Cache"] == "HIT"
    assert hit.get_data() == miss.get_data()
    assert hit.content_type == miss.content_type
    assert _text_requests(text_app) == computed


def test_other_inputs_or_parameters_are_misses(app: Flask) -> None:
    client = app.test_client()
    embed(client, "parameters matter")
    assert embed(client, "parameters matter", encoding_format="base64").headers["X-Cache"] == "MISS"
    assert embed(client, "parameters matter!").headers["X-Cache"] == "MISS"
    assert embed(client, "parameters matter", encoding_format="base64").headers["X-Cache"] == "HIT"


def test_callers_can_opt_out(app: Flask) -> None:
    client = app.test_client()
    first = embed(client, "opt out", headers={"Cache-Control": "no-store"})
    assert first.headers["X-Cache"] == "BYPASS"
    assert embed(client, "opt out").headers["X-Cache"] == "MISS"  # no-store kept nothing
    refreshed = embed(client, "opt out", headers={"Cache-Control": "no-cache"})
    assert refreshed.headers["X-Cache"] == "MISS"
    assert embed(client, "opt out").headers["X-Cache"] == "HIT"


def test_errors_are_not_cached(app: Flask) -> None:
    client = app.test_client()
    for _ in range(2):
        response = client.post("/v1/embeddings", json={"model": "no-such-model", "input": "x"}, headers=AUTH)
        assert response.status_code == 404 and response.headers["X-Cache"] == "MISS"


def test_uncacheable_routes_carry_no_cache_header(app: Flask) -> None:
    assert "X-Cache" not in app.test_client().get("/v1/models", headers=AUTH).headers


def test_outcomes_are_counted_in_the_metrics(text_url: str) -> None:
    client = _app(text_url).test_client()
    for _ in range(3):
        embed(client, "counted")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'gateway_cache_requests_total{outcome="miss"} 1.0' in metrics
    assert 'gateway_cache_requests_total{outcome="hit"} 2.0' in metrics


def test_invalid_json_is_still_refused_by_the_route(app: Flask) -> None:
    response = app.test_client().post("/v1/embeddings", data=b"{not json", content_type="application/json",
                                      headers=AUTH)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_json"


def test_redis_cache_is_shared_by_replicas_and_can_be_cleared(text_url: str, redis_url: str) -> None:
    first, second = _app(text_url, redis_url=redis_url).test_client(), _app(text_url, redis_url=redis_url).test_client()
    miss = embed(first, "shared through redis")
    hit = embed(second, "shared through redis")
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    assert hit.get_data() == miss.get_data()
    cleared = second.delete("/v1/admin/cache", headers=AUTH)
    assert cleared.status_code == 200 and cleared.get_json()["cleared"] >= 1
    assert embed(first, "shared through redis").headers["X-Cache"] == "MISS"


def test_callers_can_be_kept_apart(text_url: str) -> None:
    client = _app(text_url, cache_per_caller=True).test_client()
    assert embed(client, "per caller").headers["X-Cache"] == "MISS"
    assert embed(client, "per caller", headers={"Authorization": "Bearer sk-other"}).headers["X-Cache"] == "MISS"
    assert embed(client, "per caller").headers["X-Cache"] == "HIT"


def test_the_memory_cache_is_bounded(text_url: str) -> None:
    client = _app(text_url, cache_max_bytes=12_000).test_client()  # room for about one answer of ~8 kB
    embed(client, "first of two")
    embed(client, "second of two")
    assert embed(client, "first of two").headers["X-Cache"] == "MISS"


def test_the_key_covers_model_version_and_multipart_inputs_not_their_boundary(app: Flask) -> None:
    cache: ResultCache = app.extensions["result_cache"]
    keys, digests = set(), set()
    for boundary in ("aaaa", "bbbb"):
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nm\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.wav\"\r\n"
                f"Content-Type: audio/wav\r\n\r\nRIFFDATA\r\n--{boundary}--\r\n").encode()
        with app.test_request_context("/v1/audio/transcriptions", method="POST", input_stream=io.BytesIO(body),
                                      content_type=f"multipart/form-data; boundary={boundary}"):
            from flask import request

            digests.add(input_digest())
            assert request.files["file"].read() == b"RIFFDATA"  # the route still reads the whole file
            keys.update({cache.key("/v1/audio/transcriptions", "audio", "v1"),
                         cache.key("/v1/audio/transcriptions", "audio", "v2")})
    assert len(digests) == 1
    assert len(keys) == 2
