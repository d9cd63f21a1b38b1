"""Video search as a user meets it, through the gateway, with every real offline model in its own process:
videos synthesized from scikit-image photos and espeak-ng speech are ingested as jobs; a text query lands in the
seconds of the photo it names, a spoken phrase (asked in text or in speech) in the seconds where it is said; hits
group per video; a video's segments are listed and deleted; bad videos are refused with their codes while the
service stays healthy; and a job interrupted by a SIGKILL of the fusion service resumes after its restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import E2E_KEY
from tests.support.gateway import start_gateway, start_services, stop_all
from tests.support.media import speech_data_uri
from tests.support.processes import ServiceProcess, start_service
from tests.support.videos import VIDEO_FORMATS, Line, Scene, VideoSpec, bad_video_corpus, make_video

pytestmark = pytest.mark.e2e

STRATEGIES = ("early", "intermediate", "late")
TRAIN = "The train to the airport leaves at seven tomorrow evening."
DEMO = VideoSpec((Scene("coffee", 5), Scene("chelsea", 5), Scene("astronaut", 5), Scene("rocket", 5)),
                 (Line(TRAIN, 10.5),))
SECOND = VideoSpec((Scene("rocket", 4), Scene("horse", 4)), (Line("Fresh bread from the bakery every morning.", 4.5),),
                   fmt="webm")
# Long enough (12 segments, encoded one per batch) that a SIGKILL lands in the middle of its job.
LONG = VideoSpec(tuple(Scene(photo, 4) for photo in ("coffee", "chelsea", "astronaut", "rocket") * 3), fmt="mkv")


class VideoStack:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.encoders: dict[str, ServiceProcess] = {}
        self.fusion: ServiceProcess | None = None
        self.gateway: ServiceProcess | None = None

    def fusion_env(self) -> dict[str, str]:
        return {"FUSION_DATA_DIR": str(self.tmp / "fusion"), "FUSION_REQUEST_TIMEOUT_S": "120",
                "FUSION_ANSWER_MARGIN_S": "1.0", "FUSION_VIDEO_SEGMENTS_PER_BATCH": "1",
                "FUSION_VIDEO_RETRY_DELAYS_S": "[1, 2]",
                **{f"FUSION_{name.upper()}_URL": service.url for name, service in self.encoders.items()}}

    def start(self) -> None:
        self.encoders = start_services({name: {f"{name.upper()}_THREADS": "4"} for name in ("text", "vision", "audio")},
                                       ready_timeout_s=400)
        self.fusion = start_service("fusion", self.fusion_env())
        self.gateway = start_gateway({**self.encoders, "fusion": self.fusion}, api_keys=E2E_KEY)

    def restart_fusion(self) -> None:
        """SIGKILL the fusion service (its worker too: no graceful end), then start it again on its port with its
        data directory."""
        assert self.fusion is not None
        port = self.fusion.port
        self.fusion.kill_tree()
        self.fusion = start_service("fusion", self.fusion_env(), port=port)

    def stop(self) -> None:
        stop_all(s for s in [self.gateway, self.fusion, *self.encoders.values()] if s is not None)

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        assert self.gateway is not None
        return requests.request(method, self.gateway.url + path, json=body, timeout=180,
                                headers={"Authorization": f"Bearer {E2E_KEY}", **kwargs.pop("headers", {})},
                                **kwargs)

    def upload(self, spec_or_bytes: VideoSpec | bytes, video_id: str, *, raw: bool = False,
               **fields: str) -> requests.Response:
        data = make_video(spec_or_bytes) if isinstance(spec_or_bytes, VideoSpec) else spec_or_bytes
        fmt = spec_or_bytes.fmt if isinstance(spec_or_bytes, VideoSpec) else "mp4"
        path = "/v1/collections/videos/videos"
        if raw:
            return self.call("POST", path, data=data, params={"video_id": video_id, **fields},
                             headers={"Content-Type": VIDEO_FORMATS[fmt][4]})
        return self.call("POST", path, files={"file": (f"{video_id}.{fmt}", data, VIDEO_FORMATS[fmt][4])},
                         data={"video_id": video_id, **fields})

    def job(self, job_id: str) -> dict[str, Any]:
        answer = self.call("GET", f"/v1/collections/videos/video_jobs/{job_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def wait(self, job_id: str, timeout_s: float = 400) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        job = self.job(job_id)
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            job = self.job(job_id)
        return job

    def search(self, query: dict[str, Any], **options: Any) -> dict[str, Any]:
        answer = self.call("POST", "/v1/collections/videos/search", {"query": query, "top_k": 4, **options})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VideoStack]:
    running = VideoStack(tmp_path_factory.mktemp("video-stack"))
    try:
        running.start()
        assert running.call("POST", "/v1/collections", {"name": "videos"}).status_code == 201
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def demo(stack: VideoStack) -> dict[str, Any]:
    started = stack.upload(DEMO, "demo", metadata='{"source": "tests"}')
    assert started.status_code == 202, started.text
    assert started.headers["Location"].endswith(started.json()["id"])
    job = stack.wait(started.json()["id"])
    assert job["status"] == "succeeded", job
    assert (job["segments_done"], job["segments_total"], job["progress"]) == (4, 4, 1.0)
    return job


def _top(answer: dict[str, Any]) -> dict[str, Any]:
    top: dict[str, Any] = answer["data"][0]
    return top


def _covers(entry: dict[str, Any], start_s: float, end_s: float) -> bool:
    video = entry["video"]
    return bool(video["start_s"] <= start_s and end_s <= video["end_s"])


def test_the_video_becomes_segments_with_their_evidence(stack: VideoStack, demo: dict[str, Any]) -> None:
    video = stack.call("GET", "/v1/collections/videos/videos/demo").json()
    segments = video["segments"]
    assert [(s["start_s"], s["end_s"]) for s in segments] == [(0, 5), (5, 10), (10, 15), (15, 20)]
    assert [s["id"] for s in segments] == ["demo#0", "demo#5000", "demo#10000", "demo#15000"]
    assert all(s["metadata"]["kind"] == "video_segment" and s["metadata"]["source"] == "tests" for s in segments)
    assert [len(s["evidence"]["frames"]) for s in segments] == [5, 5, 5, 5]
    assert "espresso" in segments[0]["evidence"]["frames"][0]["text"]
    spoken = [s for s in segments if s["evidence"]["transcript"]]
    assert [s["id"] for s in spoken] == ["demo#10000"]
    assert "airport" in spoken[0]["text"].lower()
    assert video["job"]["status"] == "succeeded"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_cup_of_coffee_lands_in_the_coffee_seconds(stack: VideoStack, demo: dict[str, Any], strategy: str) -> None:
    top = _top(stack.search({"text": "a cup of coffee"}, strategy=strategy))
    assert top["video"]["video_id"] == "demo" and _covers(top, 0.0, 5.0), top
    assert any("cup" in (frame["text"] or "") for frame in top["video"]["evidence"]["frames"])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_spoken_phrase_lands_in_its_seconds(stack: VideoStack, demo: dict[str, Any], strategy: str) -> None:
    asked_in_text = _top(stack.search({"text": "when does the train to the airport leave"}, strategy=strategy))
    assert _covers(asked_in_text, 10.5, 13.0), asked_in_text
    assert "airport" in asked_in_text["video"]["evidence"]["transcript"][0]["text"].lower()
    asked_aloud = _top(stack.search({"audio": speech_data_uri("When does the train to the airport leave?")},
                                    strategy=strategy))
    assert asked_aloud["id"] == asked_in_text["id"]


def test_hits_group_per_video(stack: VideoStack, demo: dict[str, Any]) -> None:
    started = stack.upload(SECOND, "second", raw=True)
    assert started.status_code == 202, started.text
    assert stack.wait(started.json()["id"])["status"] == "succeeded"
    answer = stack.search({"text": "a rocket"}, group_by="video", top_k=2)
    assert answer["group_by"] == "video"
    groups = answer["data"]
    assert sorted(g["video_id"] for g in groups) == ["demo", "second"]
    assert all(1 <= len(g["segments"]) <= 3 for g in groups)
    for group in groups:
        assert {s["video"]["video_id"] for s in group["segments"]} == {group["video_id"]}
        scores = [s["score"] for s in group["segments"]]
        assert scores == sorted(scores, reverse=True) and group["score"] == scores[0]
    rocket_seconds = {"demo": (15.0, 20.0), "second": (0.0, 4.0)}
    for group in groups:
        assert _covers(group["segments"][0], *rocket_seconds[group["video_id"]])
    bakery = _top(stack.search({"text": "fresh bread from the bakery"}))
    assert bakery["video"]["video_id"] == "second" and _covers(bakery, 4.5, 7.0)


def test_deleting_a_video_removes_every_segment(stack: VideoStack, demo: dict[str, Any]) -> None:
    started = stack.upload(VideoSpec((Scene("horse", 3),)), "doomed")
    assert stack.wait(started.json()["id"])["status"] == "succeeded"
    assert len(stack.call("GET", "/v1/collections/videos/videos/doomed").json()["segments"]) == 1
    deleted = stack.call("DELETE", "/v1/collections/videos/videos/doomed")
    assert deleted.status_code == 200 and deleted.json()["segments_deleted"] == 1
    assert stack.call("GET", "/v1/collections/videos/items/doomed%230").status_code == 404
    hits = stack.search({"text": "a horse"}, top_k=10)["data"]
    assert all(h["video"]["video_id"] != "doomed" for h in hits)
    gone = stack.call("DELETE", "/v1/collections/videos/videos/never-there")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "video_not_found"


@pytest.mark.parametrize("name", list(bad_video_corpus()))
def test_bad_videos_get_their_4xx_and_the_service_stays_healthy(stack: VideoStack, name: str) -> None:
    data, status, code = bad_video_corpus()[name]
    answer = stack.upload(data, f"bad-{name.replace('_', '-')}")
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert stack.fusion is not None
    assert requests.get(stack.fusion.url + "/readyz", timeout=10).status_code == 200
    assert stack.call("GET", "/v1/collections/videos").status_code == 200


def test_a_body_that_is_no_video_is_415(stack: VideoStack) -> None:
    answer = stack.call("POST", "/v1/collections/videos/videos", data=b"hello", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 415 and answer.json()["error"]["code"] == "unsupported_media_type"


def test_a_job_interrupted_by_sigkill_resumes_after_restart(stack: VideoStack, demo: dict[str, Any]) -> None:
    started = stack.upload(LONG, "long", raw=True)
    assert started.status_code == 202, started.text
    job_id = started.json()["id"]
    deadline = time.monotonic() + 300
    job = stack.job(job_id)
    while job["segments_done"] < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        job = stack.job(job_id)
    assert job["status"] == "running" and 2 <= job["segments_done"] < job["segments_total"], job
    again = stack.upload(LONG, "long")
    assert again.status_code == 409 and again.json()["error"]["code"] == "video_job_active"
    stack.restart_fusion()
    finished = stack.wait(job_id)
    assert finished["status"] == "succeeded", finished
    assert finished["attempts"] == 2
    assert finished["segments_done"] == finished["segments_total"] == 12
    segments = stack.call("GET", "/v1/collections/videos/videos/long").json()["segments"]
    assert [s["start_s"] for s in segments] == [4 * k for k in range(12)]
    assert len({s["id"] for s in segments}) == 12
    items = stack.call("GET", "/v1/collections/videos/items", params={"limit": 1000}).json()["data"]
    assert sorted(i["id"] for i in items if i["id"].startswith("long#")) == sorted(s["id"] for s in segments)


def test_openapi_document_lists_the_video_routes(stack: VideoStack) -> None:
    assert stack.gateway is not None
    paths = requests.get(stack.gateway.url + "/openapi.json", timeout=10).json()["paths"]
    assert {"/v1/collections/{name}/videos", "/v1/collections/{name}/videos/{video_id}",
            "/v1/collections/{name}/video_jobs/{job_id}"} <= set(paths)
