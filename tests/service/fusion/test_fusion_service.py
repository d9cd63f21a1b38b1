"""The fusion service through ``app.test_client()``, with the real text service (MiniLM) over HTTP and the
vision / audio services absent (their URLs point at closed ports): text-only retrieval, classification and
fusion work, requests needing a missing encoder get a 503 naming the modality or, if allowed, degrade."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from services.fusion.app import create_app
from services.fusion.settings import FusionSettings
from services.fusion.strategies import early_vector, late_fuse
from tests.conftest import TEXT_TOKEN
from tests.support.milvus_server import drop_everything
from tests.support.processes import dead_url

TEXTS = {
    "cat": "a small cat sleeping on the sofa",
    "car": "a red sports car racing on the highway",
    "coffee": "a cup of hot espresso on a wooden table",
}
MINILM = "sentence-transformers/all-MiniLM-L6-v2"



def body(answer: TestResponse) -> Any:
    """The JSON body of a test-client answer."""
    return answer.get_json()

def _settings(tmp: Path, text_url: str, **extra: Any) -> FusionSettings:
    dead = dead_url()
    values: dict[str, Any] = {"data_dir": tmp, "text_url": text_url, "vision_url": dead, "audio_url": dead,
                              "internal_token": TEXT_TOKEN, "require_internal_token": False, "log_level": "WARNING"}
    return FusionSettings(**{**values, **extra})


@pytest.fixture(scope="module", params=["lite", "server"])
def app(request: pytest.FixtureRequest, text_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The fusion service on the embedded Milvus Lite file, or on a real Milvus server (emptied afterwards)."""
    server: str | None = request.getfixturevalue("milvus_server_uri") if request.param == "server" else None
    application = create_app(_settings(tmp_path_factory.mktemp("fusion"), text_url, milvus_uri=server or ""))
    yield application
    application.extensions["fusion"].close()
    if server:
        drop_everything(server)


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    test_client = app.test_client()
    assert test_client.post("/v1/collections", json={"name": "docs", "description": "texts"}).status_code == 201
    items = [{"id": key, "text": text, "metadata": {"kind": key, "rank": n}} for n, (key, text) in
             enumerate(TEXTS.items())]
    answer = test_client.post("/v1/collections/docs/items", json={"items": items})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return test_client


def _embed(text_url: str, text: str) -> np.ndarray:
    answer = requests.post(text_url + "/v1/embed", json={"input": [text]}, headers={"X-Internal-Token": TEXT_TOKEN},
                           timeout=30)
    vector = np.asarray(answer.json()["data"][0]["embedding"], dtype=np.float64)
    return vector / np.linalg.norm(vector)


def _image_b64() -> str:
    return base64.b64encode(b"\x89PNG\r\n\x1a\n not really decoded here").decode("ascii")


@pytest.mark.parametrize("strategy", ["early", "intermediate", "late"])
def test_each_strategy_finds_the_matching_text_first(client: FlaskClient, strategy: str) -> None:
    answer = client.post("/v1/collections/docs/search", json={"query": {"text": "a kitten"}, "strategy": strategy,
                                                              "top_k": 2})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    found = body(answer)
    assert [d["id"] for d in found["data"]] == ["cat", found["data"][1]["id"]] and len(found["data"]) == 2
    assert found["strategy"]["name"] == strategy
    assert found["paths"] == [{"modality": "text", "space": MINILM, "path": "direct", "model": "all-MiniLM-L6-v2"}]
    assert found["data"][0]["metadata"] == {"kind": "cat", "rank": 0} and found["data"][0]["text"] == TEXTS["cat"]


def test_search_score_is_the_cosine_of_the_text_vectors(client: FlaskClient, text_url: str) -> None:
    answer = client.post("/v1/collections/docs/search", json={"query": {"text": "coffee"}, "top_k": 3})
    scores = {d["id"]: d["score"] for d in body(answer)["data"]}
    query = _embed(text_url, "coffee")
    for key, text in TEXTS.items():
        assert scores[key] == pytest.approx(float(query @ _embed(text_url, text)), abs=1e-4)


def test_metadata_filters_narrow_the_search(client: FlaskClient) -> None:
    answer = client.post("/v1/collections/docs/search",
                         json={"query": {"text": "a kitten"}, "filter": {"kind": {"$in": ["car", "coffee"]}}})
    assert {d["id"] for d in body(answer)["data"]} == {"car", "coffee"}
    answer = client.post("/v1/collections/docs/search", json={"query": {"text": "x"}, "filter": {"rank": {"$gt": 1}}})
    assert [d["id"] for d in body(answer)["data"]] == ["coffee"]
    bad = client.post("/v1/collections/docs/search", json={"query": {"text": "x"}, "filter": {"a b": 1}})
    assert bad.status_code == 400 and body(bad)["error"]["code"] == "invalid_filter"


def test_items_are_upserted_idempotently_fetched_and_deleted(client: FlaskClient) -> None:
    item = {"id": "temp/1", "text": "a temporary note", "metadata": {"kind": "note"}}
    for _ in range(2):
        assert client.post("/v1/collections/docs/items", json={"items": [item]}).status_code == 200
    assert body(client.get("/v1/collections/docs"))["items"] == 4
    fetched = client.get("/v1/collections/docs/items/temp/1")
    assert fetched.status_code == 200 and body(fetched)["text"] == "a temporary note"
    assert client.delete("/v1/collections/docs/items/temp/1").status_code == 200
    missing = client.get("/v1/collections/docs/items/temp/1")
    assert missing.status_code == 404 and body(missing)["error"]["code"] == "item_not_found"
    assert body(client.get("/v1/collections/docs"))["items"] == 3


def test_classification_ranks_the_right_label_first(client: FlaskClient) -> None:
    for strategy in ("early", "intermediate", "late"):
        answer = client.post("/v1/classifications", json={"input": {"text": "the espresso was bitter"},
                                                          "labels": ["vehicle", "food", "animal"],
                                                          "strategy": strategy})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert body(answer)["labels"][0]["label"] == "food"
    assert "modality_scores" in body(answer)


def test_fuse_early_vector_matches_the_hand_computation(client: FlaskClient, text_url: str) -> None:
    answer = client.post("/v1/fuse", json={"input": {"text": "a red car"}, "strategy": "early",
                                           "weights": {"text": 2.0}})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    expected = early_vector({"text": _embed(text_url, "a red car")}, {"text": 2.0})
    assert body(answer)["dimensions"] == 3 * 384
    assert np.asarray(body(answer)["embedding"]) == pytest.approx(expected, abs=1e-5)


def test_fuse_late_scores_by_hand(client: FlaskClient) -> None:
    scores = {"text": {"a": 0.9, "b": 0.2}, "image": {"a": 0.1, "b": 0.7}}
    for method in ("weighted_sum", "max", "rrf"):
        answer = client.post("/v1/fuse", json={"strategy": "late", "method": method, "scores": scores,
                                               "weights": {"image": 2.0}})
        expected = late_fuse(scores, method, {"image": 2.0}, 60.0)  # type: ignore[arg-type]
        assert {d["id"]: d["score"] for d in body(answer)["data"]} == pytest.approx(expected)
    assert body(answer)["data"][0]["id"] == "b"  # rrf: b is ranked 1st by the double-weighted image scores


@pytest.mark.parametrize(("method", "path", "payload", "status", "code"), [
    ("post", "/v1/collections", {"name": "Bad Name"}, 400, "invalid_collection_name"),
    ("post", "/v1/collections", {"name": "docs"}, 409, "collection_exists"),
    ("get", "/v1/collections/nope", None, 404, "collection_not_found"),
    ("post", "/v1/collections/nope/search", {"query": {"text": "x"}}, 404, "collection_not_found"),
    ("post", "/v1/collections/docs/search", {"query": {}}, 400, "invalid_input"),
    ("post", "/v1/collections/docs/search", {"query": {"text": "x"}, "strategy": "magic"}, 400, "invalid_input"),
    ("post", "/v1/collections/docs/search", {"query": {"text": "x"}, "top_k": 100000}, 400, "top_k_too_large"),
    ("post", "/v1/collections/docs/search", {"query": {"text": "x"}, "head": "h", "strategy": "late"}, 400,
     "head_needs_intermediate"),
    ("post", "/v1/collections/docs/search", {"query": {"text": "x"}, "head": "unknown"}, 404, "head_not_found"),
    ("post", "/v1/collections/docs/items", {"items": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}, 400,
     "duplicate_ids"),
    ("post", "/v1/classifications", {"input": {"text": "x"}, "labels": ["a", "a"]}, 400, "invalid_input"),
    ("post", "/v1/fuse", {"strategy": "late"}, 400, "invalid_input"),
    ("post", "/v1/fuse", {"input": {"text": "x"}, "weights": {"text": -1}}, 400, "invalid_input"),
    ("get", "/v1/collections/docs/items?limit=0", None, 400, "invalid_parameter"),
    ("post", "/v1/collections/docs/items", {"items": [{"id": "it's", "text": "x"}]}, 400, "invalid_item_id"),
    ("post", "/v1/collections/docs/items", {"items": [{"id": "m", "text": "x", "metadata": {"k": "v" * 20000}}]},
     400, "invalid_input"),
    ("get", "/v1/collections/docs/items/it's", None, 400, "invalid_item_id"),
    ("get", "/v1/collections/docs/ingest/nojob", None, 404, "job_not_found"),
])
def test_bad_requests_get_clear_errors(client: FlaskClient, method: str, path: str, payload: Any, status: int,
                                       code: str) -> None:
    answer = getattr(client, method)(path, json=payload)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert body(answer)["error"]["code"] == code


def test_non_json_body_is_415(client: FlaskClient) -> None:
    answer = client.post("/v1/collections/docs/search", data="query", content_type="text/plain")
    assert answer.status_code == 415


def test_a_modality_whose_encoder_is_down_is_503_naming_it(client: FlaskClient) -> None:
    answer = client.post("/v1/collections/docs/search", json={"query": {"text": "cat", "image": _image_b64()}})
    assert answer.status_code == 503
    assert body(answer)["error"]["code"] == "image_unavailable" and body(answer)["error"]["param"] == "image"
    assert "vision" in body(answer)["error"]["message"]


def test_allowed_degradation_skips_the_modality_and_says_so(client: FlaskClient) -> None:
    answer = client.post("/v1/collections/docs/search", json={"query": {"text": "a kitten", "audio": _image_b64()},
                                                               "allow_degraded": True})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert body(answer)["degraded"] is True
    assert [s["modality"] for s in body(answer)["skipped"]] == ["audio"]
    assert body(answer)["data"][0]["id"] == "cat"
    upsert = client.post("/v1/collections/docs/items", json={"allow_degraded": True, "items": [
        {"id": "mixed", "text": "a parrot", "image": _image_b64()}]})
    assert body(upsert)["data"][0]["degraded"] is True
    assert body(client.get("/v1/collections/docs/items/mixed"))["modalities"] == ["text"]
    client.delete("/v1/collections/docs/items/mixed")


def test_bulk_ingest_reports_progress_and_per_item_errors(client: FlaskClient) -> None:
    assert client.post("/v1/collections", json={"name": "bulk"}).status_code == 201
    items = [{"id": f"n{i}", "text": f"note number {i}"} for i in range(5)]
    items.append({"id": "bad", "image": _image_b64()})
    started = client.post("/v1/collections/bulk/ingest", json={"items": items})
    assert started.status_code == 202
    job = body(started)
    for _ in range(300):
        job = body(client.get(f"/v1/collections/bulk/ingest/{job['id']}"))
        if job["finished"]:
            break
        time.sleep(0.1)
    assert job["status"] == "completed_with_errors" and job["done"] == 6 and job["succeeded"] == 5
    assert job["errors"][0]["id"] == "bad" and job["errors"][0]["error"]["code"] == "image_unavailable"
    assert body(client.get("/v1/collections/bulk"))["items"] == 5
    assert client.delete("/v1/collections/bulk").status_code == 200


def test_a_head_is_trained_versioned_used_and_loaded_at_start(client: FlaskClient, app: Flask, text_url: str,
                                                              tmp_path: Path) -> None:
    examples = [{"text": t, "label": "drinks"} for t in ("hot tea", "cold lemonade", "black coffee")]
    examples += [{"text": t, "label": "sports"} for t in ("a football match", "tennis final", "marathon run")]
    first = client.post("/v1/fusion/heads", json={"name": "topics", "examples": examples, "epochs": 20})
    assert first.status_code == 201, first.get_data(as_text=True)
    second = client.post("/v1/fusion/heads", json={"name": "topics", "examples": examples, "epochs": 20})
    assert (body(first)["version"], body(second)["version"]) == (1, 2)
    assert body(second)["space"] == MINILM and body(second)["labels"] == ["drinks", "sports"]
    answer = client.post("/v1/classifications", json={"input": {"text": "a glass of orange juice"},
                                                      "labels": ["drinks", "sports"], "head": "topics@v1"})
    assert answer.status_code == 200 and body(answer)["strategy"]["head"] == "topics@v1"
    assert body(answer)["labels"][0]["label"] == "drinks"

    data_dir: Path = app.extensions["settings"].data_dir
    restarted = create_app(_settings(data_dir, text_url, milvus_uri=str(tmp_path / "other.db")))
    try:
        listed = body(restarted.test_client().get("/v1/fusion/heads"))["data"]
        assert [(h["name"], h["version"]) for h in listed] == [("topics", 1), ("topics", 2)]
    finally:
        restarted.extensions["fusion"].close()


def test_text_service_down_fails_text_requests_only(tmp_path: Path) -> None:
    dead = dead_url()
    application = create_app(_settings(tmp_path, dead))
    try:
        down = application.test_client()
        assert down.post("/v1/collections", json={"name": "c"}).status_code == 201
        answer = down.post("/v1/collections/c/search", json={"query": {"text": "x"}})
        assert answer.status_code == 503 and body(answer)["error"]["code"] == "text_unavailable"
        fused = down.post("/v1/fuse", json={"strategy": "late", "scores": {"text": {"a": 1.0}}})
        assert fused.status_code == 200
        assert down.get("/readyz").status_code == 200
    finally:
        application.extensions["fusion"].close()


def test_a_text_the_encoder_refuses_fails_alone_in_its_batch(client: FlaskClient) -> None:
    items = [{"id": "ok-1", "text": "first fine note"}, {"id": "too-long", "text": "word " * 600},
             {"id": "ok-2", "text": "second fine note"}]
    answer = client.post("/v1/collections/docs/items", json={"items": items})
    assert answer.status_code == 200
    data = body(answer)["data"]
    assert [d.get("status") for d in data] == ["upserted", None, "upserted"]
    assert data[1]["error"]["code"] == "input_too_long" and data[1]["error"]["param"] == "items[1]"
    for key in ("ok-1", "ok-2"):
        assert client.delete(f"/v1/collections/docs/items/{key}").status_code == 200


def test_indexed_metadata_keys_are_declared_and_filter(client: FlaskClient) -> None:
    created = client.post("/v1/collections", json={"name": "typed", "indexed": {"kind": "string", "rank": "int"}})
    assert created.status_code == 201 and body(created)["indexed"] == {"kind": "string", "rank": "int"}
    items = [{"id": key, "text": text, "metadata": {"kind": key, "rank": n}} for n, (key, text) in
             enumerate(TEXTS.items())]
    assert client.post("/v1/collections/typed/items", json={"items": items}).status_code == 200
    answer = client.post("/v1/collections/typed/search",
                         json={"query": {"text": "a kitten"}, "filter": {"kind": {"$in": ["car", "coffee"]}}})
    assert {d["id"] for d in body(answer)["data"]} == {"car", "coffee"}
    answer = client.post("/v1/collections/typed/search", json={"query": {"text": "x"}, "filter": {"rank": {"$gt": 1}}})
    assert [d["id"] for d in body(answer)["data"]] == ["coffee"]
    wrong = client.post("/v1/collections/typed/items", json={"items": [{"id": "w", "text": "t",
                                                                        "metadata": {"rank": "first"}}]})
    assert wrong.status_code == 400 and body(wrong)["error"]["code"] == "invalid_metadata"
    assert client.delete("/v1/collections/typed").status_code == 200


@pytest.mark.parametrize("indexed", [{"kind": "date"}, {"bad-key": "string"}, {f"k{i}": "int" for i in range(17)}])
def test_bad_index_declarations_are_400(client: FlaskClient, indexed: dict[str, str]) -> None:
    answer = client.post("/v1/collections", json={"name": "badly_typed", "indexed": indexed})
    assert answer.status_code == 400 and body(answer)["error"]["code"] == "invalid_indexed"

