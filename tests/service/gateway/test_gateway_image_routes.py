"""The gateway's image routes in front of a real vision service (served over loopback HTTP in-process)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from gateway.app import create_app as create_gateway
from servekit.models import ModelSpec
from services.vision.app import create_app as create_vision
from services.vision.settings import EFFICIENTNET_LITE0, VisionSettings
from tests.support.gateway import gateway_settings
from tests.support.inprocess import serve_app
from tests.support.media import data_uri, photo_png
from tests.support.tiny_models import tiny_blip_dir

KEY = "sk-images"
AUTH = {"Authorization": f"Bearer {KEY}"}
TOKEN = "images-internal-token"


@pytest.fixture(scope="module")
def client() -> Iterator[FlaskClient]:
    models = [EFFICIENTNET_LITE0, ModelSpec(name="tiny-blip", backend="blip", source=str(tiny_blip_dir()))]
    vision = create_vision(VisionSettings(models=models, internal_token=TOKEN, caption_max_new_tokens=4),
                           load_in_background=False)
    with serve_app(vision) as url:
        settings = gateway_settings({"vision": url}, api_keys=KEY, internal_token=TOKEN, cache_enabled=False,
                                    rate_limits_enabled=False)
        yield create_gateway(settings).test_client()


def test_multipart_files_and_fields_are_forwarded(client: FlaskClient) -> None:
    files = [(io.BytesIO(photo_png("chelsea")), "chelsea.png"), (io.BytesIO(b"GIF89a broken"), "bad.gif"),
             (io.BytesIO(photo_png("coffee")), "coffee.png")]
    response = client.post("/v1/images/classifications", headers=AUTH, content_type="multipart/form-data",
                           data={"file": files, "top_k": "2", "model": "efficientnet-lite0"})
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert [len(item.get("labels", [])) for item in data] == [2, 0, 2]
    assert "cat" in data[0]["labels"][0]["label"]
    assert (data[1]["error"]["code"], data[1]["error"]["param"]) == ("invalid_image", "file[1]")  # the part it came in


def test_raw_body_with_query_parameters(client: FlaskClient) -> None:
    response = client.post("/v1/images/captions?max_new_tokens=3", headers={**AUTH, "Content-Type": "image/png"},
                           data=photo_png("coffee"))
    assert response.status_code == 200
    assert response.get_json()["model"] == "tiny-blip" and response.get_json()["data"][0]["caption"]


def test_json_passes_through_and_errors_are_relayed(client: FlaskClient) -> None:
    ok = client.post("/v1/images/classifications", headers=AUTH, json={"input": data_uri(photo_png("chelsea"))})
    assert ok.status_code == 200 and len(ok.get_json()["data"][0]["labels"]) == 5
    cases = [
        ("/v1/images/ocr", {"input": data_uri(photo_png("chelsea"))}, 404, "model_not_found"),
        ("/v1/images/classifications", {"input": "AAAA"}, 400, "invalid_image"),
        ("/v1/images/captions", {"input": data_uri(photo_png("chelsea")), "max_new_tokens": 10_000}, 400,
         "limit_exceeded"),
        ("/v1/images/classifications", {"input": data_uri(photo_png("chelsea")), "model": "nope"}, 404,
         "model_not_found"),
    ]
    for route, body, status, code in cases:
        response = client.post(route, headers=AUTH, json=body)
        assert (response.status_code, response.get_json()["error"]["code"]) == (status, code), route


def test_malformed_requests_are_refused_at_the_gateway(client: FlaskClient) -> None:
    no_file = client.post("/v1/images/classifications", headers=AUTH, content_type="multipart/form-data",
                          data={"top_k": "1"})
    assert (no_file.status_code, no_file.get_json()["error"]["code"]) == (400, "missing_file")
    text = client.post("/v1/images/ocr", headers={**AUTH, "Content-Type": "text/plain"}, data=b"hello")
    assert (text.status_code, text.get_json()["error"]["code"]) == (415, "unsupported_media_type")
    empty = client.post("/v1/images/ocr", headers={**AUTH, "Content-Type": "image/jpeg"}, data=b"")
    assert (empty.status_code, empty.get_json()["error"]["code"]) == (400, "empty_input")
    not_object = client.post("/v1/images/captions", headers=AUTH, json=["a"])
    assert (not_object.status_code, not_object.get_json()["error"]["code"]) == (400, "invalid_request")


def test_image_routes_need_an_api_key(client: FlaskClient) -> None:
    response = client.post("/v1/images/classifications", json={"input": data_uri(photo_png("chelsea"))})
    assert response.status_code == 401
