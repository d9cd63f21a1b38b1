"""The fusion service's video routes through ``app.test_client()``, with the real text service and the vision and
audio services absent: uploads are read, checked and refused with their codes before any job exists (and leave
nothing on disk); fields are validated; a job whose encoders are down fails naming the modality, or, allowed to
degrade, stores what it could; a job found on disk at start is resumed."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.fusion.app import create_app
from services.fusion.settings import FusionSettings
from services.fusion.video.jobs import VIDEO_JOBS, JobFolder, VideoJob
from tests.conftest import TEXT_TOKEN
from tests.support.processes import dead_url
from tests.support.videos import bad_video_corpus, short_video

UPLOAD_LIMIT = 400_000


def _settings(data_dir: Path, text_url: str) -> FusionSettings:
    dead = dead_url()
    return FusionSettings(data_dir=data_dir, text_url=text_url, vision_url=dead, audio_url=dead,
                          internal_token=TEXT_TOKEN, require_internal_token=False, log_level="WARNING",
                          video_max_width=200, video_max_height=200, video_max_upload_bytes=UPLOAD_LIMIT,
                          video_retry_delays_s=[])


@pytest.fixture(scope="module")
def app(text_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    application = create_app(_settings(tmp_path_factory.mktemp("fusion-videos"), text_url))
    yield application
    application.extensions["fusion"].close()


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    test_client = app.test_client()
    assert test_client.post("/v1/collections", json={"name": "clips"}).status_code == 201
    return test_client


def _upload(client: FlaskClient, data: bytes, **fields: str) -> Any:
    return client.post("/v1/collections/clips/videos", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), "clip.mp4", "video/mp4"), **fields})


def _folders(app: Flask) -> list[Path]:
    return sorted(VIDEO_JOBS.of(app).root.iterdir())


def _wait(client: FlaskClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    job: dict[str, Any] = client.get(f"/v1/collections/clips/video_jobs/{job_id}").get_json()
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = client.get(f"/v1/collections/clips/video_jobs/{job_id}").get_json()
    return job


@pytest.mark.parametrize("name", list(bad_video_corpus()))
def test_bad_videos_are_refused_before_a_job_and_leave_nothing(app: Flask, client: FlaskClient, name: str) -> None:
    before = _folders(app)
    data, status, code = bad_video_corpus()[name]
    answer = _upload(client, data)
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.get_json()["error"]["code"] == code
    assert _folders(app) == before
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(("data", "status", "code"), [
    (short_video(size=(320, 240)), 413, "video_resolution_too_large"),
    (b"\x00" * (UPLOAD_LIMIT + 1), 413, "payload_too_large"),
])
def test_limits_of_the_service_apply(client: FlaskClient, data: bytes, status: int, code: str) -> None:
    raw = client.post("/v1/collections/clips/videos", data=data, content_type="video/mp4")
    assert raw.status_code == status and raw.get_json()["error"]["code"] == code


@pytest.mark.parametrize(("fields", "param"), [
    ({"metadata": "not json"}, "metadata"),
    ({"metadata": "[1, 2]"}, "metadata"),
    ({"video_id": "no spaces please"}, "video_id"),
    ({"allow_degraded": "maybe"}, "allow_degraded"),
    ({"colour": "blue"}, "colour"),
])
def test_fields_are_validated(client: FlaskClient, fields: dict[str, str], param: str) -> None:
    answer = _upload(client, short_video(), **fields)
    assert answer.status_code == 400 and answer.get_json()["error"]["param"] == param


def test_requests_that_are_not_video_uploads(client: FlaskClient) -> None:
    wrong_type = client.post("/v1/collections/clips/videos", data=b"hi", content_type="text/plain")
    assert wrong_type.status_code == 415
    no_collection = client.post("/v1/collections/nope/videos", data=short_video(), content_type="video/mp4")
    assert no_collection.status_code == 404 and no_collection.get_json()["error"]["code"] == "collection_not_found"
    assert client.get("/v1/collections/clips/videos/unknown").get_json()["error"]["code"] == "video_not_found"
    # ids no upload could give (control characters, non-ASCII, quotes) are unknown videos, not server errors
    for odd in ["%1Fn%C3%AD%C3%81", "L%F4%86%95%97%01%C2%9Dlk", "a%22%20or%20true", "x%27%5C"]:
        for answer in (client.get(f"/v1/collections/clips/videos/{odd}"),
                       client.delete(f"/v1/collections/clips/videos/{odd}")):
            assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "video_not_found", odd
    assert client.get("/v1/collections/clips/video_jobs/unknown").get_json()["error"]["code"] == "job_not_found"


def test_a_job_whose_vision_service_is_down_fails_naming_the_modality(app: Flask, client: FlaskClient) -> None:
    started = _upload(client, short_video(), video_id="dark")
    assert started.status_code == 202, started.get_data(as_text=True)
    job = _wait(client, started.get_json()["id"])
    assert job["status"] == "failed" and job["stage"] == "encoding"
    assert job["errors"][0]["error"]["code"] == "image_unavailable"
    assert not (VIDEO_JOBS.of(app).root / job["id"] / "video").exists()  # a finished job keeps no media
    assert client.get("/v1/collections/clips/videos/dark").get_json()["job"]["id"] == job["id"]


def test_allowed_to_degrade_a_job_stores_what_it_could(client: FlaskClient) -> None:
    started = _upload(client, short_video(), video_id="degraded", allow_degraded="true")
    job = _wait(client, started.get_json()["id"])
    assert job["status"] == "succeeded"
    assert (job["segments_done"], job["segments_stored"]) == (1, 0)  # frames only, and no frame could be seen


def test_a_job_found_on_disk_at_start_is_resumed(text_url: str, tmp_path: Path) -> None:
    root = tmp_path / "videos"
    folder = JobFolder(root, "interrupted")
    folder.path.mkdir(parents=True)
    folder.video.write_bytes(short_video())
    folder.save(VideoJob("interrupted", "clips", "resumed", {}, True, None, status="running", stage="encoding",
                         attempts=1))
    resumed = create_app(_settings(tmp_path, text_url))
    try:
        job = _wait(resumed.test_client(), "interrupted")
        # It ran again (its collection is gone with the old index, which is how it ends here).
        assert (job["attempts"], job["status"]) == (2, "failed")
        assert job["errors"][-1]["error"]["code"] == "collection_not_found"
        assert json.loads((folder.path / "job.json").read_text())["attempts"] == 2
    finally:
        resumed.extensions["fusion"].close()
