"""The Python client against the real stack: every area once, jobs with wait(), errors carrying the API's code."""

from __future__ import annotations

from pathlib import Path

import pytest
from polyserve_client import JobFailed, Polyserve, PolyserveError, to_b64

from tests.e2e.frontends.conftest import UserStack
from tests.support.media import photo_png

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(user_stack: UserStack) -> Polyserve:
    return Polyserve(user_stack.url, user_stack.api_key, timeout_s=300)


def test_classify_a_cat_photo_file(client: Polyserve, media: Path) -> None:
    answer = client.classify(media / "photos" / "chelsea.png", top_k=3)
    assert answer["data"][0]["labels"][0]["label"] == "Egyptian cat"


def test_a_bad_image_fails_alone_with_its_code(client: Polyserve, media: Path) -> None:
    answer = client.classify([media / "photos" / "coffee.png", media / "broken.png"])
    good, bad = answer["data"]
    assert good["labels"]
    assert bad["index"] == 1 and bad["error"]["code"]


def test_embeddings_and_models(client: Polyserve) -> None:
    assert {model["modality"] for model in client.models()} == {"text", "image", "audio"}
    answer = client.embeddings(["a cat", "a kitten"])
    assert [len(entry["embedding"]) for entry in answer["data"]] == [384, 384]


def test_transcribe_gives_segments_and_subtitles(client: Polyserve, media: Path) -> None:
    verbose = client.transcribe(media / "speech.wav", language="en")
    assert isinstance(verbose, dict)
    assert "fox" in verbose["text"].lower() and verbose["segments"][0]["end"] > 0
    srt = client.transcribe(media / "speech.wav", response_format="srt", language="en")
    assert isinstance(srt, str) and "-->" in srt and "fox" in srt.lower()


def test_transcription_job_waits_and_returns_the_result(client: Polyserve, media: Path) -> None:
    job = client.submit_transcription(media / "speech.wav", response_format="vtt", language="en")
    result = job.wait(timeout_s=300).result()
    assert job.status == "succeeded"
    assert result.startswith("WEBVTT") and "fox" in result.lower()


def test_a_failed_job_raises_with_its_code(client: Polyserve) -> None:
    job = client.submit_embeddings("hello", model="no-such-model")
    with pytest.raises(JobFailed) as raised:
        job.wait(timeout_s=120)
    assert raised.value.code


def test_collections_upsert_and_search(client: Polyserve, media: Path) -> None:
    client.create_collection("client_photos")
    items = [{"id": name, "image": to_b64(media / "photos" / f"{name}.png")} for name in ("chelsea", "coffee")]
    assert all("error" not in r for r in client.upsert_items("client_photos", items)["data"])
    assert {item["id"] for item in client.items("client_photos")} == {"chelsea", "coffee"}
    hits = client.search("client_photos", image=photo_png("coffee"), top_k=2)["data"]
    assert hits[0]["id"] == "coffee"
    client.delete_collection("client_photos")
    with pytest.raises(PolyserveError) as raised:
        client.collection("client_photos")
    assert raised.value.status == 404 and raised.value.code


def test_a_wrong_key_raises_with_the_api_code(user_stack: UserStack) -> None:
    with pytest.raises(PolyserveError) as raised:
        Polyserve(user_stack.url, "sk-wrong").models()
    assert raised.value.status == 401 and raised.value.code == "invalid_api_key"

