"""The vision path as a user meets it: the vision service and the gateway as real processes under gunicorn.

The vision service serves its offline defaults (EfficientNet-Lite0, RapidOCR) plus a tiny random CLIP and
BLIP from local model folders, all configured through ``VISION_MODELS`` as an operator would.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import numpy as np
import pytest
import requests

from services.vision.settings import EFFICIENTNET_LITE0, RAPIDOCR
from tests.support.gateway import GatewayStack, gateway_over
from tests.support.media import bad_image_corpus, data_uri, encode_image, photo_png, render_text
from tests.support.processes import INTERNAL_TOKEN, ServiceProcess
from tests.support.tiny_models import tiny_blip_dir, tiny_clip_dir

pytestmark = pytest.mark.e2e

KEY = "sk-vision-e2e"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def stack() -> Iterator[GatewayStack]:
    models = [
        EFFICIENTNET_LITE0.model_dump(exclude_none=True),
        RAPIDOCR.model_dump(exclude_none=True),
        {"name": "tiny-clip", "backend": "clip-vision", "source": str(tiny_clip_dir())},
        {"name": "tiny-blip", "backend": "blip", "source": str(tiny_blip_dir())},
    ]
    with gateway_over({"vision": {"VISION_MODELS": json.dumps(models), "VISION_THREADS": "8"}}, api_keys=KEY,
                      gateway_env={"GATEWAY_CACHE_ENABLED": "false"}) as running:
        yield running


@pytest.fixture(scope="module")
def vision(stack: GatewayStack) -> ServiceProcess:
    return stack.services["vision"]


def test_multipart_upload_of_chelsea_is_classified_as_a_cat(gateway: ServiceProcess) -> None:
    # What `curl -F file=@chelsea.png -H "Authorization: Bearer ..." .../v1/images/classifications` sends.
    response = requests.post(f"{gateway.url}/v1/images/classifications", headers=AUTH, timeout=60,
                             files={"file": ("chelsea.png", photo_png("chelsea"), "image/png")},
                             data={"top_k": "3"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "efficientnet-lite0" and "cat" in body["data"][0]["labels"][0]["label"]
    assert len(body["data"][0]["labels"]) == 3


def test_ocr_route_reads_a_rendered_sentence(gateway: ServiceProcess) -> None:
    image = encode_image(render_text(["Hello World 2026"]))
    response = requests.post(f"{gateway.url}/v1/images/ocr", headers=AUTH, timeout=60,
                             json={"input": [data_uri(image)]})
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["text"] == "Hello World 2026"


def test_caption_route_takes_a_raw_image_body(gateway: ServiceProcess, vision: ServiceProcess) -> None:
    raw = requests.post(f"{gateway.url}/v1/images/captions?model=tiny-blip&max_new_tokens=5", timeout=60,
                        headers={**AUTH, "Content-Type": "image/png"}, data=photo_png("coffee"))
    direct = requests.post(f"{vision.url}/v1/caption", timeout=60, headers={"X-Internal-Token": INTERNAL_TOKEN},
                           json={"model": "tiny-blip", "max_new_tokens": 5, "input": data_uri(photo_png("coffee"))})
    assert raw.status_code == direct.status_code == 200, raw.text
    assert raw.json()["data"][0]["caption"] == direct.json()["data"][0]["caption"] != ""


def test_image_embeddings_through_the_openai_route(gateway: ServiceProcess, vision: ServiceProcess) -> None:
    images = [data_uri(photo_png("chelsea")), base64.b64encode(photo_png("coffee")).decode()]
    public = requests.post(f"{gateway.url}/v1/embeddings", headers=AUTH, timeout=60,
                           json={"model": "tiny-clip", "modality": "image", "input": images})
    direct = requests.post(f"{vision.url}/v1/embed", headers={"X-Internal-Token": INTERNAL_TOKEN}, timeout=60,
                           json={"model": "tiny-clip", "input": images})
    assert public.status_code == 200, public.text
    ours = np.array([item["embedding"] for item in public.json()["data"]])
    assert ours.shape == (2, 16)
    assert np.allclose(ours, [item["embedding"] for item in direct.json()["data"]], atol=1e-6)


def test_bad_images_get_4xx_through_the_gateway_and_both_stay_ready(gateway: ServiceProcess,
                                                                   vision: ServiceProcess) -> None:
    for name, (data, status, code) in bad_image_corpus().items():
        response = requests.post(f"{gateway.url}/v1/images/classifications", headers=AUTH, timeout=60,
                                 files={"file": (f"{name}.png", data, "image/png")})
        if status is None:
            assert response.status_code == 200, (name, response.text)
        else:
            assert (response.status_code, response.json()["error"]["code"]) == (status, code), name
    not_json = requests.post(f"{gateway.url}/v1/images/ocr", headers={**AUTH, "Content-Type": "text/plain"},
                             data=b"hello", timeout=30)
    assert not_json.status_code == 415
    assert requests.get(f"{vision.url}/readyz", timeout=5).status_code == 200
    assert requests.get(f"{gateway.url}/readyz", timeout=5).status_code == 200


def _wait_until_down(url: str, timeout_s: float = 30.0) -> None:
    """gunicorn's orphaned worker notices its dead master within seconds, then exits and the port closes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/healthz", timeout=5)
        except requests.ConnectionError:
            return
        time.sleep(0.2)
    raise AssertionError(f"{url} still answers after being killed")


def test_a_dead_vision_service_is_a_clear_503(gateway: ServiceProcess, vision: ServiceProcess) -> None:
    vision.kill()
    _wait_until_down(vision.url)
    response = requests.post(f"{gateway.url}/v1/images/classifications", headers=AUTH, timeout=30,
                             json={"input": data_uri(photo_png("chelsea"))})
    error = response.json().get("error", {})
    assert (response.status_code, error.get("code")) == (503, "vision_unavailable"), response.text
