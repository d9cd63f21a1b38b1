"""Visual question answering and chat in the vision service, with tiny random checkpoints of every supported
architecture (BLIP VQA, LLaVA, Idefics3, PaliGemma) loaded through the normal ``from_pretrained`` path."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import torch
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from servekit.models import ModelSpec
from services.vision.app import create_app
from services.vision.settings import VisionSettings
from tests.support.inprocess import serve_app
from tests.support.media import data_uri, photo_png, truncated_jpeg
from tests.support.tiny_vlms import CHAT_ARCHITECTURES, chat_model_dir, tiny_blip_vqa_dir

CAT = data_uri(photo_png("chelsea"))
COFFEE = data_uri(photo_png("coffee"))


@pytest.fixture(scope="module")
def app() -> Flask:
    models = [ModelSpec(name="tiny-blip-vqa", backend="blip-vqa", source=str(tiny_blip_vqa_dir()))]
    models += [ModelSpec(name=f"tiny-{name}", backend="image-text-to-text", source=str(chat_model_dir(name)))
               for name in CHAT_ARCHITECTURES]
    settings = VisionSettings(models=models, max_wait_ms=150, chat_max_new_tokens=6, chat_max_new_tokens_limit=3000,
                              answer_max_new_tokens=5, chat_max_images=4, max_concurrent_generations=3,
                              request_timeout_s=120)
    app = create_app(settings, load_in_background=False)
    assert app.extensions["pool"].ready
    return app


@pytest.fixture(scope="module")
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def conversation(*parts: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": list(parts)}], **fields}


def image(uri: str = CAT) -> dict[str, str]:
    return {"type": "image", "image": uri}


def text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


def reference_answer(architecture: str, prompt_parts: list[Any], max_new_tokens: int) -> str:
    """What the checkpoint generates greedily in-process, straight from transformers."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = chat_model_dir(architecture)
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    images = [part for part in prompt_parts if isinstance(part, Image.Image)]
    if processor.chat_template:
        content = [{"type": "image"} if isinstance(part, Image.Image) else {"type": "text", "text": part}
                   for part in prompt_parts]
        prompt = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                               tokenize=False)
    else:
        prompt = "\n".join(part for part in prompt_parts if isinstance(part, str))
    inputs = processor(text=[prompt], images=[images], return_tensors="pt")
    inputs.pop("labels", None)
    with torch.inference_mode():
        tokens = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    generated = tokens[0, inputs["input_ids"].shape[1]:].tolist()
    pad = processor.tokenizer.pad_token_id
    kept = generated[:generated.index(pad)] if pad in generated else generated
    return str(processor.tokenizer.decode(kept, skip_special_tokens=True))


def cat_image() -> Image.Image:
    return Image.open(io.BytesIO(photo_png("chelsea"))).convert("RGB")


@pytest.mark.parametrize("architecture", CHAT_ARCHITECTURES)
def test_chat_answer_equals_transformers_generate(client: FlaskClient, architecture: str) -> None:
    response = client.post("/v1/chat", json={"model": f"tiny-{architecture}",
                                             **conversation(image(), text("What is this?"), max_new_tokens=7)})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["text"] == reference_answer(architecture, [cat_image(), "What is this?"], 7)
    usage = body["usage"]
    assert 1 <= usage["completion_tokens"] <= 7 and usage["prompt_tokens"] > 4
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert body["finish_reason"] == ("length" if usage["completion_tokens"] == 7 else "stop")


@pytest.mark.parametrize("model", ["tiny-blip-vqa", *(f"tiny-{name}" for name in CHAT_ARCHITECTURES)])
def test_answers_one_per_image_in_every_request_form(client: FlaskClient, model: str) -> None:
    by_json = client.post("/v1/answer", json={"model": model, "question": "What is it?", "input": [CAT, COFFEE]})
    files = [(io.BytesIO(photo_png(name)), f"{name}.png") for name in ("chelsea", "coffee")]
    by_form = client.post("/v1/answer", data={"file": files, "model": model, "question": "What is it?"},
                          content_type="multipart/form-data")
    raw = client.post(f"/v1/answer?model={model}&question=What+is+it%3F", data=photo_png("chelsea"),
                      content_type="image/png")
    assert (by_json.status_code, by_form.status_code, raw.status_code) == (200, 200, 200)
    answers = [item["answer"] for item in by_json.get_json()["data"]]
    assert len(answers) == 2 and all(isinstance(answer, str) for answer in answers)
    assert [item["answer"] for item in by_form.get_json()["data"]] == answers
    assert raw.get_json()["data"][0]["answer"] == answers[0]


def test_blip_vqa_answer_equals_generate_in_process(client: FlaskClient) -> None:
    from transformers import BlipForQuestionAnswering, BlipProcessor

    folder = tiny_blip_vqa_dir()
    processor, model = BlipProcessor.from_pretrained(folder), BlipForQuestionAnswering.from_pretrained(folder).eval()
    with torch.inference_mode():
        tokens = model.generate(**processor(images=[cat_image()], text=["how many cats?"], return_tensors="pt"),
                                max_new_tokens=5, do_sample=False)
    expected = processor.batch_decode(tokens, skip_special_tokens=True)[0].strip()
    body = client.post("/v1/answer", json={"model": "tiny-blip-vqa", "question": "how many cats?",
                                           "input": CAT}).get_json()
    assert body["data"][0]["answer"] == expected


def test_a_bad_image_fails_alone_and_a_missing_question_is_refused(client: FlaskClient) -> None:
    body = client.post("/v1/answer", json={"question": "what?", "input": [CAT, "AAAA"]}).get_json()
    assert body["model"] == "tiny-blip-vqa"
    assert "answer" in body["data"][0] and body["data"][1]["error"]["param"] == "input[1]"
    missing = client.post("/v1/answer", json={"input": CAT})
    assert (missing.status_code, missing.get_json()["error"]["param"]) == (400, "question")
    no_image = client.post("/v1/answer", json={"question": "what?"})
    assert (no_image.status_code, no_image.get_json()["error"]["code"]) == (400, "missing_input")


def stream_lines(client: FlaskClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/v1/chat", json={**body, "stream": True})
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines() if line]


@pytest.mark.parametrize("architecture", ["llava", "idefics3"])
def test_streamed_pieces_add_up_to_the_whole_answer(client: FlaskClient, architecture: str) -> None:
    body = {"model": f"tiny-{architecture}", **conversation(image(), text("Describe it."), max_new_tokens=12)}
    whole = client.post("/v1/chat", json=body).get_json()
    lines = stream_lines(client, body)
    assert all("delta" in line for line in lines[:-1]) and len(lines) >= 2
    assert "".join(line["delta"] for line in lines[:-1]) == whole["text"]
    assert lines[-1] == {"finish_reason": whole["finish_reason"], "usage": whole["usage"]}


def test_stop_sequence_ends_the_answer_before_it_streamed_or_not(client: FlaskClient) -> None:
    body = {"model": "tiny-idefics3", **conversation(image(), text("Say something."), max_new_tokens=16)}
    full = client.post("/v1/chat", json=body).get_json()["text"]
    assert len(full) > 6
    stop = full[4:6]
    expected = full[:full.find(stop)]
    stopped = client.post("/v1/chat", json={**body, "stop": [stop]}).get_json()
    assert (stopped["text"], stopped["finish_reason"]) == (expected, "stop")
    lines = stream_lines(client, {**body, "stop": [stop]})
    assert "".join(line.get("delta", "") for line in lines) == expected
    assert lines[-1]["finish_reason"] == "stop"


def test_sampling_with_a_seed_repeats_and_text_only_conversations_work(client: FlaskClient) -> None:
    body = {"model": "tiny-llava", "messages": [{"role": "system", "content": "Be brief."},
                                                {"role": "user", "content": "Hello there"}],
            "temperature": 1.3, "top_p": 0.9, "seed": 7, "max_new_tokens": 10}
    first, second = (client.post("/v1/chat", json=body).get_json() for _ in range(2))
    assert first["text"] == second["text"] and first["usage"] == second["usage"]


@pytest.mark.parametrize(("body", "status", "code", "param"), [
    (conversation(image(), max_new_tokens=3001), 400, "limit_exceeded", "max_new_tokens"),
    (conversation(*[image()] * 5), 400, "too_many_images", "messages"),
    (conversation(image(), image(data_uri(truncated_jpeg(), "image/jpeg"))), 400, "corrupt_image",
     "messages[0].content[1]"),
    (conversation(image("AAAA")), 400, "invalid_image", "messages[0].content[0]"),
    (conversation({"type": "video", "video": "x"}), 400, "invalid_input", None),
    ({"messages": []}, 400, "invalid_input", "messages"),
    (conversation(text("hi"), model="nope"), 404, "model_not_found", "model"),
    (conversation(text("hi"), model="tiny-blip-vqa"), 400, "unsupported_task", "model"),
    (conversation(image("http://127.0.0.1/cat.png")), 400, "urls_disabled", "messages[0].content[0]"),
    (conversation(text("hi"), temperature=3), 400, "invalid_input", "temperature"),
])
def test_bad_conversations_get_clear_errors(client: FlaskClient, body: dict[str, Any], status: int, code: str,
                                            param: str | None) -> None:
    response = client.post("/v1/chat", json={"model": "tiny-llava", **body})
    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == (status, code), error
    if param is not None:
        assert error["param"] == param


def test_generations_past_the_limit_are_refused_with_retry_after(app: Flask, client: FlaskClient) -> None:
    gate = app.extensions["generation_gate"]
    for _ in range(gate.limit):
        gate.acquire()
    try:
        refused = client.post("/v1/chat", json={"model": "tiny-llava", **conversation(text("hi"))})
        refused_answer = client.post("/v1/answer", json={"question": "what?", "input": CAT})
    finally:
        for _ in range(gate.limit):
            gate.release()
    for response in (refused, refused_answer):
        assert response.status_code == 503 and response.headers["Retry-After"] == "1"
        assert response.get_json()["error"]["code"] == "too_many_generations"
    assert client.post("/v1/chat", json={"model": "tiny-llava", **conversation(text("hi"))}).status_code == 200


@pytest.fixture(scope="module")
def url(app: Flask) -> Iterator[str]:
    with serve_app(app) as base:
        yield base


def outcomes(url: str, outcome: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=5).text
    found = re.search(rf'^chat_generations_total{{model="tiny-llava",outcome="{outcome}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_a_client_that_leaves_stops_its_generation(app: Flask, url: str) -> None:
    before = outcomes(url, "cancelled")
    body = {"model": "tiny-llava", "stream": True, **conversation(image(), text("Go on."), max_new_tokens=3000)}
    with requests.post(f"{url}/v1/chat", json=body, stream=True, timeout=60) as response:
        first = next(response.iter_lines(chunk_size=None))  # type: ignore[call-overload]
        assert "delta" in json.loads(first)
    deadline = time.monotonic() + 60
    while outcomes(url, "cancelled") == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert outcomes(url, "cancelled") == before + 1
    assert outcomes(url, "length") == 0 or app.extensions["generation_gate"].active == 0
    while app.extensions["generation_gate"].active and time.monotonic() < deadline:
        time.sleep(0.1)
    assert app.extensions["generation_gate"].active == 0


def test_concurrent_questions_share_generate_calls(app: Flask, client: FlaskClient) -> None:
    import threading

    def batches() -> tuple[float, float]:
        text = client.get("/metrics").get_data(as_text=True)
        values = [float(re.search(rf'^batch_size_{kind}{{model="tiny-idefics3/chat",service="vision"}} (\S+)$',
                                  text, re.M).group(1)) for kind in ("count", "sum")]  # type: ignore[union-attr]
        return values[0], values[1]

    before = batches()
    barrier = threading.Barrier(3)
    statuses: list[int] = []

    def one(question: str) -> None:
        local = app.test_client()
        barrier.wait()
        body = {"model": "tiny-idefics3", **conversation(image(), text(question), max_new_tokens=4)}
        statuses.append(local.post("/v1/chat", json=body).status_code)

    threads = [threading.Thread(target=one, args=(q,)) for q in ("a?", "b b?", "c c c?")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    after = batches()
    assert statuses == [200] * 3
    assert after[1] - before[1] == 3 and after[0] - before[0] < 3


def test_the_deadline_ends_a_long_generation_streamed_or_not(client: FlaskClient) -> None:
    body = {"model": "tiny-llava", **conversation(text("Go on."), max_new_tokens=3000)}
    short = {"X-Request-Timeout-Ms": "400"}
    whole = client.post("/v1/chat", json=body, headers=short)
    assert (whole.status_code, whole.get_json()["error"]["code"]) == (504, "timeout")
    streamed = client.post("/v1/chat", json={**body, "stream": True}, headers=short)
    lines = [json.loads(line) for line in streamed.get_data(as_text=True).splitlines() if line]
    assert lines[-1]["error"]["code"] == "timeout" and all("delta" in line for line in lines[:-1])


def test_prompts_and_answers_stay_out_of_the_logs(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    secret = "PURPLE-ELEPHANT-4417"
    caplog.set_level(logging.DEBUG)
    body = {"model": "tiny-llava", **conversation(image(), text(secret), max_new_tokens=4)}
    answer = client.post("/v1/chat", json=body).get_json()["text"]
    client.post("/v1/chat", json={**body, "stream": True}).get_data()
    client.post("/v1/chat", json={**body, "max_new_tokens": 99_999})
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "/v1/chat" in logged
    assert secret not in logged and (not answer.strip() or answer not in logged)
