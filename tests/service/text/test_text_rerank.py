"""``POST /v1/rerank`` of the text service with tiny random cross-encoders loaded from model folders.

The expected scores are computed in-process with transformers' own ``AutoModelForSequenceClassification`` on the
same folder; random weights say nothing about ranking quality (that needs real weights).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from flask import Flask
from flask.testing import FlaskClient
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from servekit.models import ModelSpec
from services.text.app import create_app
from services.text.settings import MINILM, TextSettings
from tests.support.rerankers import tiny_cross_encoder_dir

QUERY = "how do cats sleep"
DOCUMENTS = ["Cats sleep up to sixteen hours a day.", "The stock market fell sharply today.",
             "A kitten naps in the sun.", "Trains leave the station every hour."]


@pytest.fixture(scope="module")
def app() -> Flask:
    models = [
        ModelSpec(name="tiny-rerank", backend="cross-encoder", source=str(tiny_cross_encoder_dir())),
        ModelSpec(name="tiny-rerank-2", backend="cross-encoder", source=str(tiny_cross_encoder_dir(num_labels=2))),
        MINILM,
    ]
    settings = TextSettings(models=models, max_wait_ms=50, max_rerank_documents=8, max_chars_per_item=2000)
    app = create_app(settings, load_in_background=False)
    assert app.extensions["pool"].ready
    return app


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def rerank(client: FlaskClient, **body: Any) -> tuple[int, dict[str, Any]]:
    response = client.post("/v1/rerank", json=body)
    return response.status_code, response.get_json()


def reference_scores(num_labels: int, query: str, documents: list[str]) -> list[float]:
    folder = str(tiny_cross_encoder_dir(num_labels=num_labels))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    encoded = tokenizer([query] * len(documents), documents, padding=True, truncation=True, max_length=64,
                        return_tensors="pt")
    with torch.inference_mode():
        logits = model(**encoded).logits
    scores = torch.sigmoid(logits[:, 0]) if num_labels == 1 else torch.softmax(logits, dim=1)[:, -1]
    return [float(s) for s in scores]


@pytest.mark.parametrize(("model", "labels"), [("tiny-rerank", 1), ("tiny-rerank-2", 2)])
def test_scores_equal_the_model_run_in_process_and_come_best_first(client: FlaskClient, model: str,
                                                                    labels: int) -> None:
    status, body = rerank(client, model=model, query=QUERY, documents=DOCUMENTS)
    assert status == 200, body
    expected = reference_scores(labels, QUERY, DOCUMENTS)
    got = {r["index"]: r["relevance_score"] for r in body["results"]}
    assert got == pytest.approx(dict(enumerate(expected)), abs=1e-5)
    assert [r["index"] for r in body["results"]] == sorted(range(4), key=lambda i: -expected[i])
    assert all("document" not in r for r in body["results"])
    assert body["model"] == model and body["usage"]["total_tokens"] > 4 * 3


def test_top_n_and_returned_documents_keep_their_objects(client: FlaskClient) -> None:
    documents: list[Any] = [DOCUMENTS[0], {"text": DOCUMENTS[1], "id": "doc-b"}, DOCUMENTS[2]]
    _, full = rerank(client, model="tiny-rerank", query=QUERY, documents=documents)
    status, body = rerank(client, model="tiny-rerank", query=QUERY, documents=documents, top_n=2,
                          return_documents=True)
    assert status == 200
    assert [r["index"] for r in body["results"]] == [r["index"] for r in full["results"][:2]]
    for result in body["results"]:
        given = documents[result["index"]]
        assert result["document"] == (given if isinstance(given, dict) else {"text": given})
    _, more = rerank(client, model="tiny-rerank", query=QUERY, documents=documents, top_n=10)
    assert len(more["results"]) == 3


def test_the_default_reranker_is_the_first_configured(client: FlaskClient) -> None:
    status, body = rerank(client, query=QUERY, documents=DOCUMENTS[:2])
    assert status == 200 and body["model"] == "tiny-rerank"


def test_batching_does_not_change_a_score(client: FlaskClient) -> None:
    _, alone = rerank(client, model="tiny-rerank", query=QUERY, documents=[DOCUMENTS[2]])
    _, together = rerank(client, model="tiny-rerank", query=QUERY, documents=[DOCUMENTS[0], "word " * 200,
                                                                             DOCUMENTS[2]])
    score = next(r["relevance_score"] for r in together["results"] if r["index"] == 2)
    assert score == pytest.approx(alone["results"][0]["relevance_score"], abs=1e-5)


def test_long_pairs_are_truncated_to_the_model_length(client: FlaskClient) -> None:
    status, body = rerank(client, model="tiny-rerank", query=QUERY, documents=["word " * 300])
    assert status == 200 and body["usage"]["total_tokens"] == 64


def test_the_reranker_is_listed_with_its_task(client: FlaskClient) -> None:
    models = {m["id"]: m for m in client.get("/v1/models").get_json()["data"]}
    assert models["tiny-rerank"]["tasks"] == ["rerank"] and models["tiny-rerank"]["max_tokens"] == 64
    assert models["tiny-rerank-2"]["labels"] == 2


@pytest.mark.parametrize(("body", "status", "code", "param"), [
    ({"documents": ["a"]}, 400, "invalid_input", "query"),
    ({"query": "  ", "documents": ["a"]}, 400, "invalid_input", "query"),
    ({"query": "q", "documents": []}, 400, "invalid_input", "documents"),
    ({"query": "q", "documents": "a"}, 400, "invalid_input", "documents"),
    ({"query": "q", "documents": [{"title": "no text"}]}, 400, "invalid_document", "documents[0]"),
    ({"query": "q", "documents": ["a", " "]}, 400, "empty_input", "documents[1]"),
    ({"query": "q", "documents": ["a"] * 9}, 400, "too_many_documents", "documents"),
    ({"query": "q", "documents": ["x" * 2001]}, 400, "input_too_long", "documents[0]"),
    ({"query": "q" * 2001, "documents": ["a"]}, 400, "input_too_long", "query"),
    ({"query": "q", "documents": ["a"], "top_n": 0}, 400, "invalid_input", "top_n"),
    ({"query": "q", "documents": ["a"], "extra": 1}, 400, "invalid_input", "extra"),
    ({"model": "nope", "query": "q", "documents": ["a"]}, 404, "model_not_found", "model"),
    ({"model": "all-MiniLM-L6-v2", "query": "q", "documents": ["a"]}, 400, "unsupported_task", "model"),
])
def test_bad_requests_get_clear_errors(client: FlaskClient, body: dict[str, Any], status: int, code: str,
                                       param: str) -> None:
    got, answer = rerank(client, **body)
    assert (got, answer["error"]["code"], answer["error"]["param"]) == (status, code, param)
    assert client.get("/healthz").status_code == 200


def test_a_reranker_cannot_embed(client: FlaskClient) -> None:
    response = client.post("/v1/embed", json={"model": "tiny-rerank", "input": ["a"]})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "unsupported_task"
