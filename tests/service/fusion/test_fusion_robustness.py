"""Regressions of fusion-service server errors found by fuzzing (issue 13)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from services.fusion.app import create_app
from services.fusion.scoring import FusionOptions, Projections, score_candidates
from services.fusion.settings import FusionSettings
from tests.conftest import TEXT_TOKEN
from tests.support.processes import free_port


@pytest.fixture(scope="module")
def app(text_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = FusionSettings(data_dir=Path(tmp_path_factory.mktemp("fusion-robust")), text_url=text_url,
                              vision_url=dead, audio_url=dead, internal_token=TEXT_TOKEN,
                              require_internal_token=False, log_level="WARNING")
    application = create_app(settings)
    yield application
    application.extensions["fusion"].close()


@pytest.mark.parametrize("strategy", ["early", "intermediate", "late"])
def test_searching_an_empty_collection_finds_nothing(app: Flask, strategy: str) -> None:
    """An AssertionError in scoring.py: no stored space means no fusion space, and no candidates."""
    client = app.test_client()
    client.post("/v1/collections", json={"name": "empty"})
    answer = client.post("/v1/collections/empty/search", json={"query": {"text": "a cat"}, "strategy": strategy})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["data"] == []


def test_scoring_without_a_fusion_space_has_no_candidates() -> None:
    scores, table = score_candidates({}, {}, FusionOptions(strategy="intermediate"), None, Projections(0, 0), 60.0)
    assert (scores, table) == ({}, {})


def test_fuse_without_input_is_a_400(app: Flask) -> None:
    answer = app.test_client().post("/v1/fuse", json={"strategy": "early"})
    assert answer.status_code == 400


LONG_TEXT = "word " * 600  # over the text service's 2000 characters per item (tests/conftest.py): its 400


def test_an_example_refused_upstream_is_a_4xx_naming_it(app: Flask) -> None:
    """Found by fuzzing: POST /v1/fusion/heads answered 500 when an encoder refused an example (training.py
    rebuilt the relayed UpstreamError with a constructor it does not have)."""
    body = {"name": "h", "examples": [{"text": "a cat", "label": "cat"}, {"text": LONG_TEXT, "label": "dog"}]}
    answer = app.test_client().post("/v1/fusion/heads", json=body)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["param"] == "examples[1]"


def test_a_label_refused_upstream_is_a_4xx_naming_it(app: Flask) -> None:
    """The same rebuild in classification.py, for labels."""
    body = {"input": {"text": "a cat"}, "labels": ["cat", LONG_TEXT]}
    answer = app.test_client().post("/v1/classifications", json=body)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["param"] == "labels[1]"


def test_metadata_integers_past_64_bits_are_stored_as_floats(app: Flask) -> None:
    """Found by fuzzing: Milvus refuses such JSON, which was a 500 (and a crashed ingest job)."""
    client = app.test_client()
    client.post("/v1/collections", json={"name": "meta"})
    answer = client.post("/v1/collections/meta/items",
                         json={"items": [{"id": "a", "text": "x", "metadata": {"n": [2**64], "m": 7}}]})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert client.get("/v1/collections/meta/items/a").get_json()["metadata"] == {"n": [float(2**64)], "m": 7}
    search = client.post("/v1/collections/meta/search", json={"query": {"text": "x"}, "filter": {"m": 2**64}})
    assert search.status_code == 200 and search.get_json()["data"] == []


def test_filter_values_with_control_characters_match_what_was_stored(app: Flask) -> None:
    """Found by fuzzing: JSON's ``\\u0001`` spelling reached Milvus, which knows no such escape (a 400 or a 500)."""
    client = app.test_client()
    client.post("/v1/collections", json={"name": "ctl"})
    odd = "nul\x00bell\x07tab\tline\nend\x7f"
    answer = client.post("/v1/collections/ctl/items",
                         json={"items": [{"id": "a", "text": "x", "metadata": {"k": odd}},
                                         {"id": "b", "text": "x", "metadata": {"k": "plain"}}]})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    search = client.post("/v1/collections/ctl/search", json={"query": {"text": "x"}, "filter": {"k": odd}})
    assert search.status_code == 200, search.get_data(as_text=True)
    assert [hit["id"] for hit in search.get_json()["data"]] == ["a"]
