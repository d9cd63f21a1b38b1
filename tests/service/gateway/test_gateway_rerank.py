"""The gateway's ``POST /v1/rerank`` in front of a real text service serving a tiny cross-encoder (real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.conftest import TEXT_TOKEN
from tests.support.inprocess import serve_app
from tests.support.processes import free_port
from tests.support.rerankers import rerank_text_app

AUTH = {"Authorization": "Bearer sk-all"}
BODY: dict[str, Any] = {"query": "where do cats sleep", "top_n": 2, "return_documents": True,
                        "documents": ["On the sofa.", {"text": "In a box.", "id": 7}, "At noon."]}


@pytest.fixture(scope="module")
def text_url() -> Iterator[str]:
    with serve_app(rerank_text_app(TEXT_TOKEN)) as url:
        yield url


def _gateway(text_url: str, tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    keys = tmp_path_factory.mktemp("rerank-keys") / "keys.txt"
    keys.write_text("sk-rerank rerank\nsk-embed embeddings\n")
    settings = GatewaySettings(api_keys="sk-all", api_keys_file=str(keys), text_url=text_url,
                               internal_token=TEXT_TOKEN, vision_url=f"http://127.0.0.1:{free_port()}",
                               audio_url=f"http://127.0.0.1:{free_port()}", cache_enabled=False)
    return create_app(settings).test_client()


@pytest.fixture(scope="module")
def client(text_url: str, tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    return _gateway(text_url, tmp_path_factory)


def test_the_answer_is_the_text_services_own(client: FlaskClient, text_url: str) -> None:
    import requests

    response = client.post("/v1/rerank", json=BODY, headers=AUTH)
    assert response.status_code == 200
    direct = requests.post(text_url + "/v1/rerank", json=BODY, headers={"X-Internal-Token": TEXT_TOKEN}, timeout=30)
    assert response.get_json() == direct.json()
    body = response.get_json()
    assert len(body["results"]) == 2 and body["model"] == "tiny-rerank"
    scores = [r["relevance_score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s < 1 for s in scores)
    for result in body["results"]:
        given = BODY["documents"][result["index"]]
        assert result["document"] == (given if isinstance(given, dict) else {"text": given})


def test_the_rerank_scope_is_required(client: FlaskClient) -> None:
    assert client.post("/v1/rerank", json=BODY, headers={"Authorization": "Bearer sk-rerank"}).status_code == 200
    refused = client.post("/v1/rerank", json=BODY, headers={"Authorization": "Bearer sk-embed"})
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "insufficient_scope"
    assert client.post("/v1/rerank", json=BODY).status_code == 401


@pytest.mark.parametrize(("body", "code", "param"), [
    ({"query": "q", "documents": [{"id": 1}]}, "invalid_document", "documents[0]"),
    ({"query": "q", "documents": []}, "invalid_input", "documents"),
    ({"documents": ["a"]}, "invalid_input", "query"),
    ({"query": "q", "documents": ["a"], "top_n": -1}, "invalid_input", "top_n"),
])
def test_bad_bodies_are_400_from_the_text_service(client: FlaskClient, body: dict[str, Any], code: str,
                                                  param: str) -> None:
    response = client.post("/v1/rerank", json=body, headers=AUTH)
    assert response.status_code == 400
    assert (response.get_json()["error"]["code"], response.get_json()["error"]["param"]) == (code, param)


def test_non_json_is_415_and_an_unknown_model_404(client: FlaskClient) -> None:
    assert client.post("/v1/rerank", data="query=q", headers=AUTH).status_code == 415
    missing = client.post("/v1/rerank", json={**BODY, "model": "nope"}, headers=AUTH)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "model_not_found"


def test_text_service_down_is_503(tmp_path_factory: pytest.TempPathFactory) -> None:
    down = _gateway(f"http://127.0.0.1:{free_port()}", tmp_path_factory)
    response = down.post("/v1/rerank", json=BODY, headers=AUTH)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "text_unavailable"
