"""The rerank stage of collection search, with the real text service (MiniLM for retrieval) serving tiny
cross-encoders over HTTP.

The labelled-set test fits a tiny cross-encoder to a labelled set whose relevance deliberately disagrees with
MiniLM's similarity, then measures the mean reciprocal rank of the labelled answers with and without the
stage: it shows that the stage re-reads the candidates and imposes the reranker's judgement. It measures no
reranking quality: that needs real weights (e.g. cross-encoder/ms-marco-MiniLM-L-6-v2).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from servekit.errors import InvalidInput
from services.fusion.app import create_app
from services.fusion.features import Extraction
from services.fusion.inputs import Inputs
from services.fusion.rerank import query_text
from services.fusion.settings import FusionSettings
from tests.conftest import TEXT_TOKEN
from tests.support.inprocess import serve_app
from tests.support.processes import free_port
from tests.support.rerankers import rerank_text_app, trained_cross_encoder_dir

DOCS = {
    "cat": "a small cat sleeping on the sofa",
    "car": "a red sports car racing on the highway",
    "coffee": "a cup of hot espresso on a wooden table",
    "rain": "heavy rain falling over the city at night",
    "piano": "a pianist playing a slow waltz",
    "bread": "fresh bread baking in a stone oven",
}
# Labelled set: each query's relevant item, chosen so that MiniLM's nearest item is a different one.
LABELS = {"a kitten": "piano", "fast automobile": "bread", "morning espresso": "rain", "stormy weather": "cat"}


def _pairs() -> list[tuple[str, str, float]]:
    return [(query, text, 1.0 if LABELS[query] == key else 0.0) for query in LABELS for key, text in DOCS.items()]


@pytest.fixture(scope="module")
def text_url() -> Iterator[str]:
    with serve_app(rerank_text_app(TEXT_TOKEN, trained_cross_encoder_dir(_pairs()))) as url:
        yield url


@pytest.fixture(scope="module")
def app(text_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = FusionSettings(data_dir=tmp_path_factory.mktemp("fusion-rerank"), text_url=text_url, vision_url=dead,
                              audio_url=dead, internal_token=TEXT_TOKEN, require_internal_token=False,
                              log_level="WARNING")
    application = create_app(settings)
    yield application
    application.extensions["fusion"].close()


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    test_client = app.test_client()
    assert test_client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    items = [{"id": key, "text": text, "metadata": {"n": n}} for n, (key, text) in enumerate(DOCS.items())]
    answer = test_client.post("/v1/collections/docs/items", json={"items": items})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return test_client


def search(client: FlaskClient, **body: Any) -> tuple[int, dict[str, Any]]:
    answer = client.post("/v1/collections/docs/search", json=body)
    return answer.status_code, answer.get_json()


def _reciprocal_rank(client: FlaskClient, query: str, rerank: dict[str, Any] | None) -> float:
    body: dict[str, Any] = {"query": {"text": query}, "top_k": len(DOCS)}
    if rerank is not None:
        body["rerank"] = rerank
    status, found = search(client, **body)
    assert status == 200, found
    ids = [d["id"] for d in found["data"]]
    return 1.0 / (ids.index(LABELS[query]) + 1)


def test_the_stage_imposes_the_rerankers_judgement_on_a_labelled_set(client: FlaskClient) -> None:
    before = sum(_reciprocal_rank(client, q, None) for q in LABELS) / len(LABELS)
    after = sum(_reciprocal_rank(client, q, {"candidates": len(DOCS)}) for q in LABELS) / len(LABELS)
    print(f"labelled set MRR: retrieval {before:.3f}, with rerank {after:.3f}")
    assert before < 0.75 and after == 1.0


def test_scores_are_the_cross_encoders_and_the_retrieval_score_is_kept(client: FlaskClient, text_url: str) -> None:
    status, found = search(client, query={"text": "a kitten"}, top_k=3, rerank={"model": "tiny-rerank",
                                                                                  "candidates": 5})
    assert status == 200, found
    assert found["rerank"] == {"model": "tiny-rerank", "candidates": 5, "reranked": 5}
    assert len(found["data"]) == 3 and all(d["reranked"] for d in found["data"])
    direct = requests.post(text_url + "/v1/rerank", headers={"X-Internal-Token": TEXT_TOKEN}, timeout=30, json={
        "query": "a kitten", "documents": [d["text"] for d in found["data"]]}).json()
    assert [d["score"] for d in found["data"]] == pytest.approx(
        [r["relevance_score"] for r in sorted(direct["results"], key=lambda r: r["index"])], abs=1e-5)
    _, plain = search(client, query={"text": "a kitten"}, top_k=6)
    plain_scores = {d["id"]: d["score"] for d in plain["data"]}
    assert all(d["retrieval_score"] == pytest.approx(plain_scores[d["id"]], abs=1e-6) for d in found["data"])


def test_only_the_candidates_are_read(client: FlaskClient) -> None:
    _, plain = search(client, query={"text": "a kitten"}, top_k=6)
    _, found = search(client, query={"text": "a kitten"}, top_k=6, rerank={"candidates": 2})
    assert found["rerank"]["reranked"] == 2
    assert {d["id"] for d in found["data"][:2]} == {d["id"] for d in plain["data"][:2]}
    assert [d["id"] for d in found["data"][2:]] == [d["id"] for d in plain["data"][2:]]
    assert [d["reranked"] for d in found["data"]] == [True, True, False, False, False, False]


@pytest.mark.parametrize(("body", "status", "code", "param"), [
    ({"query": {"text": "x"}, "rerank": {"candidates": 0}}, 400, "invalid_input", "rerank.candidates"),
    ({"query": {"text": "x"}, "rerank": {"candidates": 1001}}, 400, "invalid_input", "rerank.candidates"),
    ({"query": {"text": "x"}, "rerank": {"other": 1}}, 400, "invalid_input", "rerank.other"),
    ({"query": {"text": "x"}, "rerank": {"model": "nope"}}, 404, "model_not_found", "rerank.model"),
    ({"query": {"text": "x"}, "rerank": {"model": "all-MiniLM-L6-v2"}}, 400, "unsupported_task", "rerank.model"),
])
def test_bad_stages_get_clear_errors(client: FlaskClient, body: dict[str, Any], status: int, code: str,
                                     param: str) -> None:
    got, answer = search(client, **body)
    assert (got, answer["error"]["code"], answer["error"]["param"]) == (status, code, param)


def test_a_query_without_text_cannot_be_reranked_and_an_image_query_reads_its_bridge_text() -> None:
    image = base64.b64encode(b"\x89PNG\r\n\x1a\n not decoded").decode("ascii")
    with pytest.raises(InvalidInput) as refused:
        query_text(Inputs(image=image), Extraction())
    assert refused.value.code == "rerank_needs_text"
    assert query_text(Inputs(image=image), Extraction(derived={"image": "espresso, cup"})) == "espresso, cup"


def test_the_text_service_down_is_503(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = FusionSettings(data_dir=tmp_path, text_url=dead, vision_url=dead, audio_url=dead,
                              require_internal_token=False, log_level="WARNING")
    application = create_app(settings)
    try:
        client = application.test_client()
        client.post("/v1/collections", json={"name": "docs"})
        answer = client.post("/v1/collections/docs/search", json={"query": {"text": "x"}, "rerank": {}})
        assert answer.status_code == 503 and answer.get_json()["error"]["code"] == "text_unavailable"
    finally:
        application.extensions["fusion"].close()
