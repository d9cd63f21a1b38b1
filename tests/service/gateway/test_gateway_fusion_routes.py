"""The gateway's fusion routes in front of a real fusion service (served over HTTP in-process) and a real text
service: requests are forwarded as they are, answers and errors come back unchanged."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from gateway.app import create_app as create_gateway
from services.fusion.app import create_app as create_fusion
from services.fusion.settings import FusionSettings
from tests.conftest import TEXT_TOKEN
from tests.support.gateway import gateway_settings
from tests.support.inprocess import serve_app
from tests.support.processes import dead_url
from tests.support.videos import random_bytes, short_video

KEY = "sk-fusion-key"
AUTH = {"Authorization": f"Bearer {KEY}"}



def body(answer: TestResponse) -> Any:
    """The JSON body of a test-client answer."""
    return answer.get_json()

def _gateway(fusion_url: str, text_url: str) -> FlaskClient:
    # A small body limit: video uploads must pass it (they take GATEWAY_JOB_MAX_BODY_BYTES).
    settings = gateway_settings({"text": text_url, "fusion": fusion_url}, api_keys=KEY, internal_token=TEXT_TOKEN,
                                max_body_bytes=200_000)
    return create_gateway(settings).test_client()


@pytest.fixture(scope="module")
def client(text_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlaskClient]:
    dead = dead_url()
    fusion = create_fusion(FusionSettings(data_dir=tmp_path_factory.mktemp("fusion"), text_url=text_url,
                                          vision_url=dead, audio_url=dead, internal_token=TEXT_TOKEN,
                                          log_level="WARNING"))
    with serve_app(fusion) as fusion_url:
        yield _gateway(fusion_url, text_url)
    fusion.extensions["fusion"].close()


def test_collections_items_and_search_through_the_gateway(client: FlaskClient) -> None:
    assert client.post("/v1/collections", json={"name": "notes"}, headers=AUTH).status_code == 201
    items = [{"id": "a/1", "text": "the cat purrs", "metadata": {"k": 1}}, {"id": "b", "text": "stock prices fell"}]
    assert client.post("/v1/collections/notes/items", json={"items": items}, headers=AUTH).status_code == 200
    fetched = client.get("/v1/collections/notes/items/a/1", headers=AUTH)
    assert fetched.status_code == 200 and body(fetched)["id"] == "a/1"
    found = client.post("/v1/collections/notes/search", json={"query": {"text": "a kitten"}}, headers=AUTH)
    assert [d["id"] for d in body(found)["data"]] == ["a/1", "b"]
    listed = client.get("/v1/collections/notes/items?limit=1", headers=AUTH)
    assert len(body(listed)["data"]) == 1
    classified = client.post("/v1/classifications", json={"input": {"text": "my cat"}, "labels": ["pet", "money"]},
                             headers=AUTH)
    assert body(classified)["labels"][0]["label"] == "pet"
    assert client.delete("/v1/collections/notes/items/a/1", headers=AUTH).status_code == 200
    assert client.delete("/v1/collections/notes", headers=AUTH).status_code == 200


def test_fusion_errors_are_relayed_unchanged(client: FlaskClient) -> None:
    missing = client.get("/v1/collections/nothing-here", headers=AUTH)
    assert missing.status_code == 404 and body(missing)["error"]["code"] == "collection_not_found"
    bad = client.post("/v1/fuse", json={"strategy": "late"}, headers=AUTH)
    assert bad.status_code == 400 and body(bad)["error"]["code"] == "invalid_input"
    down = client.post("/v1/fuse", json={"input": {"image": "aGVsbG8="}}, headers=AUTH)
    assert down.status_code == 503 and body(down)["error"]["code"] == "image_unavailable"


def test_the_gateway_checks_keys_and_json_first(client: FlaskClient) -> None:
    assert client.get("/v1/collections").status_code == 401
    answer = client.post("/v1/fuse", data="x", content_type="text/plain", headers=AUTH)
    assert answer.status_code == 415


def test_fusion_down_is_503(text_url: str) -> None:
    gateway = _gateway(dead_url(), text_url)
    answer = gateway.get("/v1/collections", headers=AUTH)
    assert answer.status_code == 503 and body(answer)["error"]["code"] == "fusion_unavailable"


def test_video_routes_forward_uploads_of_job_size(client: FlaskClient) -> None:
    """Uploads larger than the gateway's body limit pass (they are job-sized); the fusion service's refusals, its
    202 and its Location come back unchanged, whichever way the video was sent."""
    assert client.post("/v1/collections", json={"name": "films"}, headers=AUTH).status_code == 201
    big = random_bytes(300_000)
    raw = client.post("/v1/collections/films/videos?video_id=noise", data=big, content_type="video/mp4",
                      headers=AUTH)
    assert raw.status_code == 400 and body(raw)["error"]["code"] == "invalid_video"
    form = client.post("/v1/collections/films/videos", headers=AUTH, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(short_video()), "a.mp4", "video/mp4"),
                             "video_id": "clip"})
    assert form.status_code == 202, form.get_data(as_text=True)
    assert form.headers["Location"] == f"/v1/collections/films/video_jobs/{body(form)['id']}"
    job = client.get(form.headers["Location"], headers=AUTH)
    assert job.status_code == 200 and body(job)["video_id"] == "clip"
    assert client.get("/v1/collections/films/videos/clip", headers=AUTH).status_code == 200
    text = client.post("/v1/collections/films/videos", data=b"hello", content_type="text/plain", headers=AUTH)
    assert text.status_code == 415
    missing = client.get("/v1/collections/films/videos/nothing-here", headers=AUTH)
    assert missing.status_code == 404 and body(missing)["error"]["code"] == "video_not_found"
    assert client.delete("/v1/collections/films/videos/clip", headers=AUTH).status_code == 200
