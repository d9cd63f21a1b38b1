"""The text encoder through its Flask app, with the real all-MiniLM-L6-v2 weights."""

from __future__ import annotations

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from servekit.codecs import base64_to_vector
from servekit.models import ModelSpec
from services.text.app import create_app
from services.text.settings import TextSettings
from tests.conftest import TEXT_TOKEN

AUTH = {"X-Internal-Token": TEXT_TOKEN}
SENTENCES = ["A man is playing a guitar.", "Someone plays an acoustic guitar.", "The stock market fell sharply today."]


@pytest.fixture()
def client(text_app: Flask) -> FlaskClient:
    return text_app.test_client()


def embed(client: FlaskClient, body: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = client.post("/v1/embed", json=body, headers=AUTH)
    return response.status_code, response.get_json()


def test_vectors_equal_sentence_transformers(client: FlaskClient, minilm_reference) -> None:  # type: ignore[no-untyped-def]
    status, body = embed(client, {"input": SENTENCES})
    assert status == 200
    ours = np.array([item["embedding"] for item in body["data"]])
    theirs = minilm_reference.encode(SENTENCES, normalize_embeddings=False)
    cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosine.min() >= 0.9999
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert (body["model"], body["dimensions"], body["space"]) == (
        "all-MiniLM-L6-v2", 384, "sentence-transformers/all-MiniLM-L6-v2")


def test_meaning_is_captured(client: FlaskClient) -> None:
    _, body = embed(client, {"input": SENTENCES})
    v = np.array([item["embedding"] for item in body["data"]])
    assert v[0] @ v[1] > 0.5 > v[0] @ v[2]


def test_batching_does_not_change_a_vector(client: FlaskClient) -> None:
    _, alone = embed(client, {"input": SENTENCES[2]})
    _, together = embed(client, {"input": ["short", SENTENCES[2], "a much longer sentence " * 10]})
    a, b = np.array(alone["data"][0]["embedding"]), np.array(together["data"][1]["embedding"])
    precision = client.get("/v1/models", headers=AUTH).get_json()["data"][0]["precision"]
    if precision == "float32":
        assert np.allclose(a, b, atol=1e-5)
    else:  # bfloat16 products round a little differently with the batch's shape: the "unchanged" cosine
        assert precision == "bfloat16 matmuls" and float(a @ b) >= 0.9999


def test_token_counts_and_truncation(client: FlaskClient) -> None:
    _, body = embed(client, {"input": ["hello world", "word " * 300]})
    # [CLS] hello world [SEP] = 4 tokens; the long text is cut at the model's 256-token maximum.
    assert body["usage"]["prompt_tokens"] == 4 + 256


def test_base64_encoding_matches_floats(client: FlaskClient) -> None:
    _, floats = embed(client, {"input": "hello"})
    _, packed = embed(client, {"input": "hello", "encoding_format": "base64"})
    assert np.allclose(base64_to_vector(packed["data"][0]["embedding"]), floats["data"][0]["embedding"])


def test_dimensions_truncate_and_renormalise_for_truncatable_models(client: FlaskClient) -> None:
    _, full = embed(client, {"input": "hello there", "model": "minilm-truncatable"})
    status, short = embed(client, {"input": "hello there", "model": "minilm-truncatable", "dimensions": 128})
    assert status == 200 and short["dimensions"] == 128
    expected = np.array(full["data"][0]["embedding"][:128])
    expected /= np.linalg.norm(expected)
    assert np.allclose(short["data"][0]["embedding"], expected, atol=1e-6)
    assert embed(client, {"input": "x", "model": "minilm-truncatable", "dimensions": 385})[0] == 400


def test_models_lists_tasks_space_and_dimensions(client: FlaskClient) -> None:
    body = client.get("/v1/models", headers=AUTH).get_json()
    model, truncatable = body["data"]
    assert truncatable["truncatable"] and not model["truncatable"]
    assert model["id"] == "all-MiniLM-L6-v2"
    assert model["tasks"] == ["embed"]
    assert (model["dimensions"], model["max_tokens"], model["status"]) == (384, 256, "ready")


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"input": []}, "invalid_input", "input"),
        ({"input": ""}, "empty_input", "input[0]"),
        ({"input": ["ok", "   "]}, "empty_input", "input[1]"),
        ({"input": ["ok", 5]}, "invalid_input", "input[1]"),
        ({"input": {"text": "x"}}, "invalid_input", "input"),
        ({"input": ["x"] * 65}, "too_many_inputs", "input"),
        ({"input": ["x" * 2001]}, "input_too_long", "input[0]"),
        ({"input": "x", "dimensions": 100}, "unsupported_dimensions", "dimensions"),
        ({"input": "x", "encoding_format": "hex"}, "invalid_input", "encoding_format"),
        ({"input": "x", "surprise": 1}, "invalid_input", "surprise"),
        ({}, "invalid_input", "input"),
        ([1, 2], "invalid_input", None),
    ],
)
def test_bad_input_is_a_clear_400(client: FlaskClient, body: object, code: str, param: str | None) -> None:
    status, answer = embed(client, body)
    assert status == 400
    assert answer["error"]["code"] == code
    assert answer["error"]["param"] == param


def test_unknown_model_is_404(client: FlaskClient) -> None:
    status, answer = embed(client, {"input": "x", "model": "gpt-nope"})
    assert (status, answer["error"]["code"]) == (404, "model_not_found")


def test_service_keeps_serving_after_bad_input(client: FlaskClient) -> None:
    client.post("/v1/embed", data=b"\xff\xfe garbage", content_type="application/json", headers=AUTH)
    client.post("/v1/embed", data=b"x" * 100, content_type="application/octet-stream", headers=AUTH)
    assert client.get("/readyz").status_code == 200
    assert embed(client, {"input": "still here"})[0] == 200


def test_internal_token_is_required(client: FlaskClient) -> None:
    assert client.post("/v1/embed", json={"input": "x"}).status_code == 401


def test_metrics_show_batches_and_model_time(client: FlaskClient) -> None:
    embed(client, {"input": ["a", "b"]})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'batch_size_count{model="all-MiniLM-L6-v2",service="text"}' in text
    assert 'model_duration_seconds_count{model="all-MiniLM-L6-v2",service="text",stage="forward"}' in text


def test_a_model_that_fails_to_load_keeps_the_service_not_ready(tmp_path) -> None:  # type: ignore[no-untyped-def]
    broken = ModelSpec(name="broken", backend="sentence-transformers", source=str(tmp_path / "missing"))
    app = create_app(TextSettings(models=[broken]), load_in_background=False)
    client = app.test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.get_json()["models"] == {"broken": "failed"}
    assert client.get("/healthz").status_code == 200
    response = client.post("/v1/embed", json={"input": "x", "model": "broken"})
    assert (response.status_code, response.get_json()["error"]["code"]) == (503, "model_not_ready")


def test_unknown_backend_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        create_app(TextSettings(models=[ModelSpec(name="m", backend="nope", source="x")]))
