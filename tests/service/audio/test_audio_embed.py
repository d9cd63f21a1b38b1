"""The audio service's /v1/embed with the real-weights default (mean-pooled Whisper base encoder states)."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from servekit.codecs import base64_to_vector
from tests.support.media import SENTENCES, b64, spoken


@pytest.fixture(scope="module")
def client(whisper_base_app: Flask) -> FlaskClient:
    return whisper_base_app.test_client()


def _b64(index: int, fmt: str) -> str:
    return b64(spoken(SENTENCES[index], fmt))


def test_embed_answers_the_shared_contract(client: FlaskClient) -> None:
    response = client.post("/v1/embed", json={"input": [_b64(0, "wav"), "data:audio/mpeg;base64," + _b64(0, "mp3")]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["object"] == "list" and body["model"] == "whisper-base"
    assert body["space"] == "whisper-encoder:whisper-base" and body["dimensions"] == 512
    vectors = [np.array(item["embedding"]) for item in body["data"]]
    assert [item["index"] for item in body["data"]] == [0, 1]
    assert all(abs(np.linalg.norm(v) - 1) < 1e-4 for v in vectors)


def test_same_speech_in_two_codecs_is_closer_than_other_speech(client: FlaskClient) -> None:
    body = client.post("/v1/embed", json={"input": [_b64(1, "wav"), _b64(1, "ogg"), _b64(3, "wav")],
                                          "encoding_format": "base64"}).get_json()
    same_wav, same_ogg, other = (base64_to_vector(item["embedding"]) for item in body["data"])
    assert float(same_wav @ same_ogg) > 0.95
    assert float(same_wav @ same_ogg) > float(same_wav @ other) + 0.02


def test_batched_and_single_requests_agree(client: FlaskClient) -> None:
    single = client.post("/v1/embed", json={"input": _b64(2, "flac")}).get_json()["data"][0]["embedding"]
    batch = client.post("/v1/embed", json={"input": [_b64(4, "flac"), _b64(2, "flac")]}).get_json()
    assert np.allclose(single, batch["data"][1]["embedding"], atol=1e-3)


@pytest.mark.parametrize(("body", "status", "code", "param"), [
    ({"input": []}, 400, "invalid_input", "input"),
    ({"input": ["AAAA"]}, 400, "invalid_audio", "input[0]"),
    ({"input": ["ok", "%%%"]}, 400, "invalid_base64", "input[0]"),
    ({"input": ["UklGRg=="], "dimensions": 64}, 400, "unsupported_dimensions", "dimensions"),
    ({"input": ["UklGRg=="], "model": "missing"}, 404, "model_not_found", "model"),
])
def test_bad_embed_requests(client: FlaskClient, body: dict, status: int, code: str, param: str) -> None:
    response = client.post("/v1/embed", json=body)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code and error["param"] == param


def test_a_bad_item_is_named_by_its_index(client: FlaskClient) -> None:
    response = client.post("/v1/embed", json={"input": [_b64(0, "wav"), base64.b64encode(b"noise" * 99).decode()]})
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "input[1]"
