"""Fusion as a new user meets it, through the gateway, with every real offline model in its own process:
ingest photos, texts and speech; search across modalities with each strategy; classify; survive a SIGKILL of
the fusion service with nothing acknowledged lost; degrade as specified when an encoder dies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from servekit.catalog import ENCODERS
from tests.e2e.conftest import E2E_KEY
from tests.support.media import photo_b64, speech_data_uri
from tests.support.milvus_server import drop_everything
from tests.support.processes import ServiceProcess, start_service

pytestmark = pytest.mark.e2e

STRATEGIES = ("early", "intermediate", "late")
TEXTS = {
    "train": "The train to the airport leaves at seven tomorrow evening.",
    "bakery": "Fresh bread and croissants from the bakery around the corner.",
    "football": "The football match ended in a draw after extra time.",
}
SPOKEN = {"weather": "Sunny weather with a gentle breeze today."}
PHOTOS = {"cat": "chelsea", "coffee": "coffee", "astronaut": "astronaut", "rocket": "rocket"}


class Stack:
    def __init__(self, tmp: Path, milvus_uri: str = "") -> None:
        self.tmp = tmp
        self.milvus_uri = milvus_uri
        self.encoders: dict[str, ServiceProcess] = {}
        self.fusion: ServiceProcess | None = None
        self.gateway: ServiceProcess | None = None

    def start(self) -> None:
        pending = {name: start_service(name, {f"{name.upper()}_THREADS": "4"}, wait=False)
                   for name in ENCODERS}
        for service in pending.values():
            service.wait_ready(400)
        self.encoders = pending
        self.fusion = self.start_fusion()
        self.gateway = start_service("gateway", {
            "GATEWAY_API_KEYS": E2E_KEY, "GATEWAY_FUSION_URL": self.fusion.url,
            **{f"GATEWAY_{name.upper()}_URL": service.url for name, service in self.encoders.items()}})

    def start_fusion(self, port: int | None = None) -> ServiceProcess:
        # A second of every deadline for the answer: two cores shared with a busy Whisper leave Python slow.
        env = {"FUSION_DATA_DIR": str(self.tmp / "fusion"), "FUSION_REQUEST_TIMEOUT_S": "120",
               "FUSION_ANSWER_MARGIN_S": "1.0", "FUSION_MILVUS_URI": self.milvus_uri,
               **{f"FUSION_{name.upper()}_URL": service.url for name, service in self.encoders.items()}}
        return start_service("fusion", env, port=port)

    def stop(self) -> None:
        for service in [self.gateway, self.fusion, *self.encoders.values()]:
            if service is not None:
                service.stop()

    def call(self, method: str, path: str, body: Any = None, timeout: float = 180,
             headers: dict[str, str] | None = None) -> requests.Response:
        assert self.gateway is not None
        return requests.request(method, self.gateway.url + path, json=body, timeout=timeout,
                                headers={"Authorization": f"Bearer {E2E_KEY}", **(headers or {})})


@pytest.fixture(scope="module", params=["lite", "server"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack, its fusion service on the embedded Milvus Lite file or on a real Milvus server."""
    server: str = request.getfixturevalue("milvus_server_uri") if request.param == "server" else ""
    running = Stack(tmp_path_factory.mktemp("fusion-stack"), server)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        if server:
            drop_everything(server)


def _items() -> list[dict[str, Any]]:
    items = [{"id": key, "image": photo_b64(name), "metadata": {"kind": "photo"}} for key, name in PHOTOS.items()]
    items += [{"id": key, "text": text, "metadata": {"kind": "text"}} for key, text in TEXTS.items()]
    items += [{"id": key, "audio": speech_data_uri(text), "metadata": {"kind": "speech"}}
              for key, text in SPOKEN.items()]
    return items


def _ids(answer: requests.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [entry["id"] for entry in answer.json()["data"]]


@pytest.fixture(scope="module")
def ingested(stack: Stack) -> Stack:
    assert stack.call("POST", "/v1/collections", {"name": "media"}).status_code == 201
    started = stack.call("POST", "/v1/collections/media/ingest", {"items": _items()})
    assert started.status_code == 202, started.text
    job = started.json()
    deadline = time.monotonic() + 300
    while not job["finished"] and time.monotonic() < deadline:
        time.sleep(0.5)
        job = stack.call("GET", f"/v1/collections/media/ingest/{job['id']}").json()
    assert job["status"] == "succeeded", job.get("errors")
    assert job["done"] == job["total"] == len(_items())
    return stack


def test_collection_holds_every_item_with_its_bridges(ingested: Stack) -> None:
    info = ingested.call("GET", "/v1/collections/media").json()
    assert info["items"] == len(_items())
    cat = ingested.call("GET", "/v1/collections/media/items/cat").json()
    assert "cat" in cat["derived"]["image"].lower()
    assert {p["path"].split(":")[0] for p in cat["paths"]} == {"native", "bridge"}
    weather = ingested.call("GET", "/v1/collections/media/items/weather").json()
    assert "breeze" in weather["derived"]["audio"].lower()


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_text_query_a_cat_returns_the_cat_photo_first(ingested: Stack, strategy: str) -> None:
    answer = ingested.call("POST", "/v1/collections/media/search",
                           {"query": {"text": "a cat"}, "strategy": strategy, "top_k": 3})
    assert _ids(answer)[0] == "cat"
    assert answer.json()["strategy"]["name"] == strategy


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_spoken_query_returns_the_matching_text_first(ingested: Stack, strategy: str) -> None:
    query = {"audio": speech_data_uri("When does the train to the airport leave?")}
    answer = ingested.call("POST", "/v1/collections/media/search",
                           {"query": query, "strategy": strategy, "filter": {"kind": "text"}})
    assert _ids(answer)[0] == "train"
    assert any(p["path"] == "bridge:transcript" for p in answer.json()["paths"])


def test_mixed_query_with_every_late_method(ingested: Stack) -> None:
    query = {"text": "a cup of espresso", "image": photo_b64("coffee")}
    for method in ("weighted_sum", "max", "rrf"):
        answer = ingested.call("POST", "/v1/collections/media/search",
                               {"query": query, "strategy": "late", "method": method, "top_k": 3})
        assert _ids(answer)[0] == "coffee"
        assert set(answer.json()["data"][0]["modality_scores"]) == {"text", "image"}


def test_the_request_deadline_bounds_the_whole_fan_out(ingested: Stack) -> None:
    """Transcribing the question takes seconds; with 2.5 s to live (1.5 s for the encoders) the request answers
    504 naming audio, or, allowed to degrade, answers from what it has and says what it went without."""
    short = {"X-Request-Timeout-Ms": "2500"}
    spoken = {"audio": speech_data_uri("When does the train to the airport leave tomorrow evening, and from which "
                                  "platform, now that the timetable has changed again?")}
    answer = ingested.call("POST", "/v1/collections/media/search", {"query": spoken}, headers=short)
    assert answer.status_code == 504, answer.text
    assert answer.json()["error"]["code"] == "timeout" and answer.json()["error"]["param"] == "audio"
    other = {"audio": speech_data_uri("Which platform does the evening train to the airport leave from, now that "
                                 "the timetable has changed again this week?")}
    degraded = ingested.call("POST", "/v1/collections/media/search", {
        "query": {"text": "the train to the airport", **other}, "allow_degraded": True}, headers=short)
    assert _ids(degraded)[0] == "train"
    assert degraded.json()["degraded"] is True
    # Out of time while it ran (timeout), or refused at once by the audio encoder's admission control, which
    # knows the transcription cannot finish within the deadline (overloaded).
    skipped = {(s["modality"], s["code"]) for s in degraded.json()["skipped"]}
    assert skipped in ({("audio", "timeout")}, {("audio", "overloaded")})


def test_multimodal_zero_shot_classification(ingested: Stack) -> None:
    labels = ["a cup of coffee", "a cat", "a rocket launch", "a train"]
    for strategy in STRATEGIES:
        answer = ingested.call("POST", "/v1/classifications", {
            "input": {"image": photo_b64("rocket"), "text": "liftoff from the launch pad"},
            "labels": labels, "strategy": strategy})
        assert answer.status_code == 200, answer.text
        assert answer.json()["labels"][0]["label"] == "a rocket launch"


def test_bad_media_is_a_4xx_naming_the_modality_and_fails_alone(ingested: Stack) -> None:
    answer = ingested.call("POST", "/v1/collections/media/search", {"query": {"image": "aGVsbG8gd29ybGQ="}})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["param"] == "image" and answer.json()["error"]["code"] == "invalid_image"
    upsert = ingested.call("POST", "/v1/collections/media/items", {"items": [
        {"id": "broken", "audio": "aGVsbG8gd29ybGQ="}, {"id": "fine", "text": "A perfectly fine note."}]})
    assert upsert.status_code == 200
    first, second = upsert.json()["data"]
    assert first["error"]["param"] == "items[0]" and first["error"]["type"] == "invalid_request_error"
    assert second["status"] == "upserted"
    assert ingested.call("DELETE", "/v1/collections/media/items/fine").status_code == 200


def test_openapi_document_lists_the_fusion_routes(ingested: Stack) -> None:
    assert ingested.gateway is not None
    paths = requests.get(ingested.gateway.url + "/openapi.json", timeout=10).json()["paths"]
    assert {"/v1/fuse", "/v1/classifications", "/v1/collections/{name}/search"} <= set(paths)


def test_killing_the_fusion_service_loses_no_acknowledged_item(ingested: Stack) -> None:
    acknowledged = ingested.call("POST", "/v1/collections/media/items", {"items": [
        {"id": "late-note", "text": "A note written just before the crash.", "metadata": {"kind": "text"}}]})
    assert acknowledged.status_code == 200, acknowledged.text
    assert ingested.fusion is not None
    port = ingested.fusion.port
    ingested.fusion.kill()
    ingested.fusion = ingested.start_fusion(port=port)
    info = ingested.call("GET", "/v1/collections/media").json()
    assert info["items"] == len(_items()) + 1
    listed = ingested.call("GET", "/v1/collections/media/items?limit=100").json()["data"]
    assert {item["id"] for item in listed} == {i["id"] for i in _items()} | {"late-note"}
    answer = ingested.call("POST", "/v1/collections/media/search", {"query": {"text": "written before a crash"}})
    assert _ids(answer)[0] == "late-note"


def _wait_unreachable(url: str, timeout_s: float = 60) -> None:
    """After SIGKILL of gunicorn's master its worker notices within a moment and exits: wait for that."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/healthz", timeout=1)
        except requests.ConnectionError:
            return
        except requests.Timeout:
            pass  # shutting down
        time.sleep(0.2)
    raise TimeoutError(f"{url} still answers")


def test_a_dead_encoder_fails_only_what_needs_it(ingested: Stack) -> None:
    vision = ingested.encoders["vision"]
    vision.kill()
    _wait_unreachable(vision.url)
    text_only = ingested.call("POST", "/v1/collections/media/search", {"query": {"text": "a cat"}})
    assert _ids(text_only)[0] == "cat"  # stored vectors still answer a query that needs no vision
    needs_vision = ingested.call("POST", "/v1/collections/media/search", {"query": {"image": photo_b64("coffee")}})
    assert needs_vision.status_code == 503
    assert needs_vision.json()["error"]["code"] == "image_unavailable"
    degraded = ingested.call("POST", "/v1/collections/media/search", {
        "query": {"text": "a cup of espresso", "image": photo_b64("coffee")}, "allow_degraded": True})
    assert _ids(degraded)[0] == "coffee"
    assert degraded.json()["degraded"] is True
    assert [s["modality"] for s in degraded.json()["skipped"]] == ["image"]
