"""The gateway's OpenAI embeddings API in front of a real text service (real HTTP, real MiniLM)."""

from __future__ import annotations

import base64
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from flask.testing import FlaskClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.conftest import TEXT_TOKEN
from tests.support.gateway import gateway_settings

KEY = "sk-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def client(text_url: str) -> FlaskClient:
    settings = gateway_settings({"text": text_url}, api_keys=f"other-key,{KEY}", internal_token=TEXT_TOKEN,
                                embedding_chunk_size=4, max_embedding_inputs=40, max_body_bytes=64 * 1024)
    return create_app(settings).test_client()


def post(client: FlaskClient, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = client.post("/v1/embeddings", json=body, headers=AUTH if headers is None else headers)
    return response.status_code, response.get_json()


def test_floats_equal_sentence_transformers(client: FlaskClient, minilm_reference) -> None:  # type: ignore[no-untyped-def]
    texts = ["The cat sat on the mat.", "Kubernetes schedules pods onto nodes."]
    status, body = post(client, {"model": "all-MiniLM-L6-v2", "input": texts})
    assert status == 200
    assert body["object"] == "list" and body["model"] == "all-MiniLM-L6-v2"
    ours = np.array([d["embedding"] for d in body["data"]])
    theirs = minilm_reference.encode(texts)
    cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosine.min() >= 0.9999
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0


def test_base64_is_little_endian_float32_of_the_same_vector(client: FlaskClient) -> None:
    _, floats = post(client, {"model": "all-MiniLM-L6-v2", "input": "hello"})
    _, packed = post(client, {"model": "all-MiniLM-L6-v2", "input": "hello", "encoding_format": "base64"})
    decoded = np.frombuffer(base64.b64decode(packed["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, floats["data"][0]["embedding"])


def test_large_requests_are_chunked_and_keep_their_order(client: FlaskClient) -> None:
    texts = [f"sentence number {i}" for i in range(11)]  # three chunks of at most 4
    _, together = post(client, {"model": "all-MiniLM-L6-v2", "input": texts})
    assert [d["index"] for d in together["data"]] == list(range(11))
    _, alone = post(client, {"model": "all-MiniLM-L6-v2", "input": texts[9]})
    assert np.allclose(together["data"][9]["embedding"], alone["data"][0]["embedding"], atol=1e-5)


def test_an_upstream_error_names_the_index_in_the_whole_request(client: FlaskClient) -> None:
    texts = ["fine"] * 6 + ["x" * 3000] + ["fine"]  # the text service refuses items over 2000 characters
    status, body = post(client, {"model": "all-MiniLM-L6-v2", "input": texts})
    assert status == 400
    assert (body["error"]["code"], body["error"]["param"]) == ("input_too_long", "input[6]")
    assert "input[6]" in body["error"]["message"]


def embed_calls(text_url: str) -> int:
    """``POST /v1/embed`` calls the text service has answered so far, by its own metrics."""
    metrics = requests.get(f"{text_url}/metrics", timeout=5).text
    return sum(int(float(n)) for n in re.findall(r'http_requests_total\{[^}]*route="/v1/embed"[^}]*\} (\S+)', metrics))


def test_concurrent_small_requests_share_upstream_calls_and_each_gets_its_own_vector_and_usage(
        client: FlaskClient, text_url: str) -> None:
    texts = [f"sentence {i}: " + "word " * (i % 7) for i in range(24)] + ["x" * 3000]  # the last is refused alone
    fresh = {**AUTH, "Cache-Control": "no-store"}  # every answer from the model, none from the result cache
    alone = [post(client, {"model": "all-MiniLM-L6-v2", "input": text}, fresh)[1] for text in texts[:-1]]
    before = embed_calls(text_url)
    barrier = threading.Barrier(len(texts))

    def send(text: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        barrier.wait()
        return post(client, {"model": "all-MiniLM-L6-v2", "input": text}, fresh)

    with ThreadPoolExecutor(len(texts)) as pool:
        answers = list(pool.map(send, texts))
    calls = embed_calls(text_url) - before
    assert calls < len(texts) // 2, f"{calls} upstream calls for {len(texts)} requests: nothing was coalesced"
    *good, (bad_status, bad) = answers
    assert (bad_status, bad["error"]["code"], bad["error"]["param"]) == (400, "input_too_long", "input[0]")
    assert all(status == 200 and len(body["data"]) == 1 and body["data"][0]["index"] == 0 for status, body in good)
    for (_, body), reference in zip(good, alone, strict=True):
        assert body["usage"] == reference["usage"]  # each bills its own input's tokens
        ours, theirs = np.array(body["data"][0]["embedding"]), np.array(reference["data"][0]["embedding"])
        assert ours @ theirs / np.linalg.norm(ours) / np.linalg.norm(theirs) >= 0.9999
    assert len({reference["usage"]["prompt_tokens"] for reference in alone}) == 7


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "all-MiniLM-L6-v2", "input": []}, 400, "empty_input"),
        ({"model": "all-MiniLM-L6-v2", "input": ""}, 400, "empty_input"),
        ({"model": "all-MiniLM-L6-v2", "input": ["a", " "]}, 400, "empty_input"),
        ({"model": "all-MiniLM-L6-v2", "input": [1, 2, 3]}, 400, "unsupported_input"),
        ({"model": "all-MiniLM-L6-v2", "input": [["a"], "b"]}, 400, "invalid_input"),
        ({"model": "all-MiniLM-L6-v2", "input": {"a": 1}}, 400, "invalid_input"),
        ({"model": "all-MiniLM-L6-v2", "input": ["a"] * 41}, 400, "too_many_inputs"),
        ({"input": "a"}, 400, "invalid_input"),
        ({"model": 7, "input": "a"}, 400, "invalid_input"),
        ({"model": "all-MiniLM-L6-v2", "input": "a", "encoding_format": "int8"}, 400, "invalid_input"),
        ({"model": "all-MiniLM-L6-v2", "input": "a", "dimensions": 64}, 400, "unsupported_dimensions"),
        ({"model": "no-such-model", "input": "a"}, 404, "model_not_found"),
        ({"model": "all-MiniLM-L6-v2", "input": "a", "modality": "smell"}, 400, "invalid_input"),
    ],
)
def test_bad_input_gets_the_right_4xx(client: FlaskClient, body: object, status: int, code: str) -> None:
    got_status, answer = post(client, body)
    assert (got_status, answer["error"]["code"]) == (status, code)
    assert answer["error"]["message"]


def test_malformed_json_wrong_type_and_oversized_body(client: FlaskClient) -> None:
    bad_json = client.post("/v1/embeddings", data="{oops", content_type="application/json", headers=AUTH)
    assert (bad_json.status_code, bad_json.get_json()["error"]["code"]) == (400, "invalid_json")
    not_json = client.post("/v1/embeddings", data="input=a", content_type="application/x-www-form-urlencoded",
                           headers=AUTH)
    assert (not_json.status_code, not_json.get_json()["error"]["code"]) == (415, "unsupported_media_type")
    huge = client.post("/v1/embeddings", json={"model": "m", "input": "x" * 70_000}, headers=AUTH)
    assert (huge.status_code, huge.get_json()["error"]["code"]) == (413, "payload_too_large")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"},
                                     {"Authorization": f"Bearer {KEY}x"}])
def test_missing_or_wrong_key_is_401(client: FlaskClient, headers: dict[str, str]) -> None:
    status, body = post(client, {"model": "all-MiniLM-L6-v2", "input": "a"}, headers=headers)
    assert status == 401
    assert body["error"]["type"] == "authentication_error"
    assert client.get("/v1/models", headers=headers).headers["WWW-Authenticate"].startswith("Bearer")


def test_health_metrics_and_docs_need_no_key(client: FlaskClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path


def test_models_lists_the_text_models_and_skips_unreachable_upstreams(client: FlaskClient) -> None:
    body = client.get("/v1/models", headers=AUTH).get_json()
    ids = {m["id"]: m for m in body["data"]}
    assert set(ids) == {"all-MiniLM-L6-v2", "minilm-truncatable"}
    assert ids["all-MiniLM-L6-v2"]["modality"] == "text"
    assert ids["all-MiniLM-L6-v2"]["object"] == "model"
    one = client.get("/v1/models/all-MiniLM-L6-v2", headers=AUTH)
    assert one.status_code == 200 and one.get_json()["dimensions"] == 384
    assert client.get("/v1/models/nope", headers=AUTH).status_code == 404


def test_an_upstream_that_is_down_gives_a_clear_503() -> None:
    settings = gateway_settings({}, api_keys=KEY)
    client = create_app(settings).test_client()
    status, body = post(client, {"model": "all-MiniLM-L6-v2", "input": "a"})
    assert (status, body["error"]["code"]) == (503, "text_unavailable")
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_requests_without_keys_configured_are_refused() -> None:
    client = create_app(GatewaySettings(api_keys="")).test_client()
    assert post(client, {"model": "m", "input": "a"}, headers={"Authorization": "Bearer anything"})[0] == 401
