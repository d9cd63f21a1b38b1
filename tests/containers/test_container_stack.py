"""The whole stack in containers (CPU profile), driven through the containerised gateway only: real models in
the images, fusion's index on a volume that outlives its container, and an encoder that crashes brought back
by its restart policy while the other modalities keep answering."""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np
import pytest
import requests

from tests.containers.compose_stack import POLYSERVE_SERVICES, ComposeStack
from tests.support.media import encode_image, espeak_wav, photo_b64, photo_png, render_text, speech_data_uri

pytestmark = pytest.mark.containers

TEXTS = ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]
SENTENCE = "The quick brown fox jumps over the lazy dog."


def call(stack: ComposeStack, method: str, path: str, timeout: float = 120, **kwargs: Any) -> requests.Response:
    return requests.request(method, stack.gateway + path, timeout=timeout,
                            headers={"Authorization": f"Bearer {stack.api_key}"}, **kwargs)


def classify(stack: ComposeStack) -> requests.Response:
    return call(stack, "POST", "/v1/images/classifications", files={"file": ("cat.png", photo_png("chelsea"))},
                data={"top_k": "3"})


def embed(stack: ComposeStack, texts: list[str]) -> requests.Response:
    return call(stack, "POST", "/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": texts})


def test_every_polyserve_container_runs_as_an_unprivileged_user(stack: ComposeStack) -> None:
    for service in POLYSERVE_SERVICES:
        container = stack.container(service)
        assert container.attrs["Config"]["User"] == "10001:10001", service
        exit_code, output = container.exec_run(["id", "-u"])
        assert exit_code == 0 and output.decode().strip() == "10001", (service, output)
        assert container.attrs["HostConfig"]["ReadonlyRootfs"] is True, service


def test_embeddings_equal_sentence_transformers_in_process(stack: ComposeStack, minilm_reference) -> None:  # type: ignore[no-untyped-def]
    response = embed(stack, TEXTS)
    assert response.status_code == 200, response.text
    served = np.array([item["embedding"] for item in response.json()["data"]])
    reference = minilm_reference.encode(TEXTS, normalize_embeddings=True)
    cosines = (served * reference).sum(axis=1) / np.linalg.norm(served, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosines.min() >= 0.9999, cosines


def test_the_cat_photo_is_classified_as_a_cat(stack: ComposeStack) -> None:
    response = classify(stack)
    assert response.status_code == 200, response.text
    labels = [label["label"] for label in response.json()["data"][0]["labels"]]
    assert labels[0] in ("Egyptian cat", "tabby, tabby cat", "tabby", "tiger cat"), labels


def test_rendered_text_is_read_back(stack: ComposeStack) -> None:
    image = encode_image(render_text(["Hello World 2026"]))
    response = requests.post(f"{stack.gateway}/v1/images/ocr", data=image, timeout=120,
                             headers={"Authorization": f"Bearer {stack.api_key}", "Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["text"] == "Hello World 2026"


def test_speech_is_transcribed(stack: ComposeStack) -> None:
    response = call(stack, "POST", "/v1/audio/transcriptions", timeout=300,
                    files={"file": ("speech.wav", espeak_wav(SENTENCE))}, data={"model": "whisper-base"})
    assert response.status_code == 200, response.text
    words = response.json()["text"].lower().replace(".", "").replace(",", "").split()
    assert words == SENTENCE.lower().rstrip(".").split(), words


def ingest(stack: ComposeStack, collection: str, items: list[dict[str, Any]]) -> None:
    assert call(stack, "POST", "/v1/collections", json={"name": collection}).status_code == 201
    started = call(stack, "POST", f"/v1/collections/{collection}/ingest", json={"items": items})
    assert started.status_code == 202, started.text
    job = started.json()
    deadline = time.monotonic() + 600
    while not job["finished"] and time.monotonic() < deadline:
        time.sleep(1)
        job = call(stack, "GET", f"/v1/collections/{collection}/ingest/{job['id']}").json()
    assert job["status"] == "succeeded", job


def search(stack: ComposeStack, collection: str, query: dict[str, str]) -> list[str]:
    answer = call(stack, "POST", f"/v1/collections/{collection}/search", timeout=300,
                  json={"query": query, "strategy": "late", "top_k": 3})
    assert answer.status_code == 200, answer.text
    return [entry["id"] for entry in answer.json()["data"]]


def test_a_collection_is_filled_searched_and_survives_a_fusion_restart(stack: ComposeStack) -> None:
    items = [{"id": "cat", "image": photo_b64("chelsea")}, {"id": "coffee", "image": photo_b64("coffee")},
             {"id": "train", "text": "The train to the airport leaves at seven tomorrow evening."},
             {"id": "weather", "audio": speech_data_uri("Sunny weather with a gentle breeze today.")}]
    ingest(stack, "media", items)
    before = {"cat": search(stack, "media", {"text": "a cat"}),
              "train": search(stack, "media", {"text": "when does the train to the airport leave"})}
    assert before["cat"][0] == "cat" and before["train"][0] == "train", before
    started = stack.started_at("fusion")
    stack.container("fusion").restart(timeout=30)
    assert stack.started_at("fusion") != started
    stack.wait_healthy("fusion", 300)
    info = call(stack, "GET", "/v1/collections/media").json()
    assert info["items"] == len(items), info
    after = {"cat": search(stack, "media", {"text": "a cat"}),
             "train": search(stack, "media", {"text": "when does the train to the airport leave"})}
    assert after == before


def test_a_crashed_audio_container_comes_back_while_text_and_images_keep_answering(stack: ComposeStack) -> None:
    restarts = stack.container("audio-cpu").attrs["RestartCount"]
    stack.crash("audio-cpu")
    crashed_at = time.monotonic()
    answers: list[int] = []
    saw_unhealthy_audio = False
    while time.monotonic() - crashed_at < 600:
        answers += [embed(stack, [f"still here {len(answers)}"]).status_code, classify(stack).status_code]
        health = stack.health("audio-cpu")
        saw_unhealthy_audio = saw_unhealthy_audio or health != "healthy"
        if saw_unhealthy_audio and health == "healthy":
            break
    back_after = time.monotonic() - crashed_at
    assert saw_unhealthy_audio, "the audio container never left the healthy state"
    assert stack.health("audio-cpu") == "healthy", stack.logs("audio-cpu")
    assert stack.container("audio-cpu").attrs["RestartCount"] == restarts + 1
    assert answers and set(answers) == {200}, answers
    speech = call(stack, "POST", "/v1/audio/transcriptions", timeout=300,
                  files={"file": ("speech.wav", espeak_wav(SENTENCE))}, data={"model": "whisper-base"})
    assert speech.status_code == 200 and "fox" in speech.json()["text"].lower(), speech.text
    print(f"audio container SIGKILLed: healthy again after {back_after:.1f} s (restart policy); "
          f"{len(answers)} text and image requests meanwhile, all 200")


def test_base64_image_embeddings_are_served_too(stack: ComposeStack) -> None:
    response = call(stack, "POST", "/v1/embeddings", json={
        "model": "efficientnet-lite0", "modality": "image",
        "input": [base64.b64encode(photo_png("chelsea")).decode()]})
    assert response.status_code == 200, response.text
    assert len(response.json()["data"][0]["embedding"]) == 1280
