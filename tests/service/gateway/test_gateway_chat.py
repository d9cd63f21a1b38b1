"""``/v1/chat/completions`` and ``/v1/images/questions`` at the gateway, in front of real vision and audio services
(tiny random chat checkpoints, Whisper base) served over loopback HTTP, driven by the official ``openai`` client."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import requests
from flask import Flask

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from servekit.models import ModelSpec
from services.vision.app import create_app as create_vision
from services.vision.settings import VisionSettings
from tests.support.inprocess import serve_app
from tests.support.media import data_uri, photo_png, synthesize, truncated_jpeg, wav_bytes
from tests.support.processes import free_port
from tests.support.tiny_vlms import tiny_blip_vqa_dir, tiny_idefics3_dir, tiny_llava_dir

KEY, IMAGES_ONLY = "sk-chat", "sk-images-only"
TOKEN = "chat-internal-token"
CAT = data_uri(photo_png("chelsea"))


@pytest.fixture(scope="module")
def vision() -> Flask:
    models = [ModelSpec(name="tiny-llava", backend="image-text-to-text", source=str(tiny_llava_dir())),
              ModelSpec(name="tiny-idefics3", backend="image-text-to-text", source=str(tiny_idefics3_dir())),
              ModelSpec(name="tiny-blip-vqa", backend="blip-vqa", source=str(tiny_blip_vqa_dir()))]
    settings = VisionSettings(models=models, internal_token=TOKEN, chat_max_new_tokens=6,
                              chat_max_new_tokens_limit=3000, request_timeout_s=120)
    return create_vision(settings, load_in_background=False)


@pytest.fixture(scope="module")
def urls(vision: Flask, whisper_base_app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    keys = Path(tmp_path_factory.mktemp("chat-keys")) / "keys.txt"
    keys.write_text(f"{KEY} *\n{IMAGES_ONLY} images\n")
    with serve_app(vision) as vision_url, serve_app(whisper_base_app) as audio_url:
        settings = GatewaySettings(api_keys_file=str(keys), vision_url=vision_url, audio_url=audio_url,
                                   internal_token=TOKEN, rate_limits_enabled=False, request_timeout_s=120,
                                   text_url=f"http://127.0.0.1:{free_port()}")
        with serve_app(create_gateway(settings)) as gateway_url:
            yield gateway_url, vision_url


@pytest.fixture(scope="module")
def client(urls: tuple[str, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{urls[0]}/v1", api_key=KEY, max_retries=0)


def post(urls: tuple[str, str], body: dict[str, Any], key: str = KEY, **kwargs: Any) -> requests.Response:
    return requests.post(f"{urls[0]}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"},
                         timeout=120, **kwargs)


def ask(*parts: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "tiny-llava", "messages": [{"role": "user", "content": list(parts)}], **fields}


def picture(url: str = CAT) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def words(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def test_openai_client_gets_the_vision_services_answer(client: openai.OpenAI, urls: tuple[str, str]) -> None:
    body = ask(words("What is this?"), picture(), max_tokens=6, temperature=0)
    direct = requests.post(f"{urls[1]}/v1/chat", headers={"X-Internal-Token": TOKEN}, timeout=60, json={
        "model": "tiny-llava", "max_new_tokens": 6,
        "messages": [{"role": "user", "content": [words("What is this?"), {"type": "image", "image": CAT}]}]}).json()
    completion = client.chat.completions.create(**body)
    assert completion.object == "chat.completion" and completion.model == "tiny-llava"
    assert completion.id.startswith("chatcmpl-") and len(completion.choices) == 1
    choice = completion.choices[0]
    assert (choice.message.role, choice.message.content) == ("assistant", direct["text"])
    assert choice.finish_reason == ("length" if direct["finish_reason"] == "length" else "stop")
    assert completion.usage is not None and completion.usage.model_dump() == {
        **direct["usage"], "completion_tokens_details": None, "prompt_tokens_details": None}


def test_openai_client_streams_the_same_answer_with_usage_last(client: openai.OpenAI) -> None:
    body = ask(words("Describe."), picture(), max_completion_tokens=10, temperature=0)
    whole = client.chat.completions.create(**body)
    chunks = list(client.chat.completions.create(**body, stream=True, stream_options={"include_usage": True}))
    assert all(chunk.object == "chat.completion.chunk" and chunk.id == chunks[0].id for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices]
    assert "".join(content) == whole.choices[0].message.content
    finishing = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices and chunk.choices[0].finish_reason]
    assert finishing == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_server_sent_events_arrive_in_order_and_end_with_done(urls: tuple[str, str]) -> None:
    response = post(urls, ask(words("Go."), max_tokens=5, temperature=0, stream=True), stream=True)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = [line.decode().removeprefix("data: ") for line in response.iter_lines() if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    reasons = [chunk["choices"][0]["finish_reason"] for chunk in chunks]
    assert reasons[:-1] == [None] * (len(chunks) - 1) and reasons[-1] in ("stop", "length")
    assert "usage" not in chunks[-1]


def test_a_client_that_leaves_the_gateway_stops_the_generation(urls: tuple[str, str]) -> None:
    def cancelled() -> float:
        text = requests.get(f"{urls[1]}/metrics", timeout=5).text
        found = re.search(r'^chat_generations_total{model="tiny-llava",outcome="cancelled"} (\S+)$', text, re.M)
        return float(found.group(1)) if found else 0.0

    before = cancelled()
    with post(urls, ask(words("Go on."), max_tokens=3000, temperature=0, stream=True), stream=True) as response:
        assert next(line for line in response.iter_lines() if line).startswith(b"data: ")
    deadline = time.monotonic() + 60
    while cancelled() == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cancelled() == before + 1


def test_spoken_questions_are_transcribed_and_reported(client: openai.OpenAI) -> None:
    speech = synthesize("What colour is the cat")
    audio = base64.b64encode(wav_bytes(speech.samples, speech.sample_rate)).decode()
    spoken = {"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}}
    completion = client.chat.completions.create(**ask(picture(), spoken, max_tokens=4, temperature=0))
    transcripts = completion.model_extra["transcripts"]  # type: ignore[index]
    assert [(item["message"], item["part"]) for item in transcripts] == [(0, 1)]
    assert "cat" in transcripts[0]["text"].lower()


def test_only_repeatable_whole_answers_are_cached(urls: tuple[str, str]) -> None:
    greedy = ask(words("Cache me."), max_tokens=3, temperature=0)
    first, second = post(urls, greedy), post(urls, greedy)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert first.json()["choices"] == second.json()["choices"]
    seeded = ask(words("Seeded."), max_tokens=3, seed=3)
    assert [post(urls, seeded).headers["X-Cache"] for _ in range(2)] == ["MISS", "HIT"]
    sampled = ask(words("Sampled."), max_tokens=3)
    assert post(urls, sampled).headers["X-Cache"] == "BYPASS"
    streamed = post(urls, {**greedy, "stream": True})
    assert streamed.headers["X-Cache"] == "BYPASS" and streamed.text.endswith("data: [DONE]\n\n")


def too_many_images() -> dict[str, Any]:
    return ask(*[picture()] * 20, words("Which is best?"))


@pytest.mark.parametrize(("body", "status", "code", "param"), [
    (ask(words("hi"), logit_bias={"1": 2}, tools=[{"type": "function"}]), 400, "unsupported_parameter",
     "logit_bias"),
    (ask(words("hi"), n=2), 400, "invalid_input", "n"),
    (ask({"type": "video_url", "video_url": {"url": "x"}}), 400, "invalid_input", None),
    (too_many_images(), 400, "too_many_images", "messages"),
    (ask(picture(data_uri(truncated_jpeg(), "image/jpeg"))), 400, "corrupt_image", "messages[0].content[0]"),
    (ask(words("What?"), picture("data:image/png;base64,AAAA")), 400, "invalid_image", "messages[0].content[1]"),
    (ask(words("hi"), max_tokens=2_000_000_000), 400, "limit_exceeded", "max_tokens"),
    (ask(words("hi"), max_completion_tokens=5000), 400, "limit_exceeded", "max_completion_tokens"),
    ({"model": "tiny-llava", "messages": []}, 400, "invalid_input", "messages"),
    (ask(picture("http://example.com/cat.png")), 400, "urls_disabled", "messages[0].content[0]"),
    (ask(picture("file:///etc/passwd")), 400, "unsupported_url_scheme", "messages[0].content[0]"),
    (ask({"type": "input_audio", "input_audio": {"data": "bm90IGF1ZGlv", "format": "wav"}}), 400, None,
     "messages[0].content[0]"),
    (ask(words("hi"), model="nope"), 404, "model_not_found", "model"),
    (ask(words("hi"), frequency_penalty=0.5), 400, "unsupported_parameter", "frequency_penalty"),
])
def test_bad_requests_get_the_shared_error_shape(urls: tuple[str, str], body: dict[str, Any], status: int,
                                                 code: str | None, param: str | None) -> None:
    response = post(urls, body)
    error = response.json()["error"]
    assert response.status_code == status, error
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code, error
    if param is not None:
        assert error["param"] == param, error
    if code == "unsupported_parameter":
        assert param in error["message"]


def test_neutral_values_of_unimplemented_fields_are_accepted(urls: tuple[str, str]) -> None:
    body = ask(words("hi"), max_tokens=2, temperature=0, frequency_penalty=0, presence_penalty=0, logprobs=False,
               user="someone")
    assert post(urls, body).status_code == 200


def test_chat_needs_the_chat_scope(urls: tuple[str, str]) -> None:
    refused = post(urls, ask(words("hi"), max_tokens=2), key=IMAGES_ONLY)
    assert (refused.status_code, refused.json()["error"]["type"]) == (403, "permission_error")


def test_image_questions_in_the_three_request_forms(urls: tuple[str, str]) -> None:
    route, auth = f"{urls[0]}/v1/images/questions", {"Authorization": f"Bearer {IMAGES_ONLY}"}
    by_json = requests.post(route, headers=auth, timeout=60, json={"model": "tiny-blip-vqa", "question": "what?",
                                                                   "input": [CAT, CAT]})
    by_form = requests.post(route, headers=auth, timeout=60, data={"model": "tiny-blip-vqa", "question": "what?"},
                            files=[("file", ("cat.png", io.BytesIO(photo_png("chelsea")), "image/png"))])
    raw = requests.post(route, headers={**auth, "Content-Type": "image/png"}, timeout=60, data=photo_png("chelsea"),
                        params={"model": "tiny-blip-vqa", "question": "what?"})
    assert [r.status_code for r in (by_json, by_form, raw)] == [200, 200, 200]
    answer = by_json.json()["data"][0]["answer"]
    assert [item["answer"] for item in by_json.json()["data"]] == [answer, answer]
    assert by_form.json()["data"][0]["answer"] == raw.json()["data"][0]["answer"] == answer
    missing = requests.post(route, headers=auth, timeout=60, json={"question": "what?"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "missing_input")


def test_python_client_streams_the_same_chat_and_answers_questions(client: openai.OpenAI,
                                                                   urls: tuple[str, str]) -> None:
    from polyserve_client import Polyserve, PolyserveError, chat_message  # the repo's own client package

    ours = Polyserve(urls[0], KEY, max_retries=0)
    messages: Any = [chat_message("Describe.", [photo_png("chelsea")])]  # openai types its messages narrowly
    whole = client.chat.completions.create(model="tiny-llava", messages=messages, max_tokens=8, temperature=0)
    chunks = list(ours.chat(messages, model="tiny-llava", stream=True, max_tokens=8, temperature=0))
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == whole.choices[0].message.content
    assert chunks[-1]["choices"][0]["finish_reason"] == whole.choices[0].finish_reason
    with pytest.raises(PolyserveError) as refused:
        ours.chat(messages, model="tiny-llava", stream=True, max_tokens=2_000_000_000)
    assert (refused.value.code, refused.value.param) == ("limit_exceeded", "max_tokens")
    direct = requests.post(f"{urls[0]}/v1/images/questions", headers={"Authorization": f"Bearer {KEY}"}, timeout=60,
                           json={"model": "tiny-blip-vqa", "question": "what?", "input": [CAT]}).json()
    assert ours.ask([photo_png("chelsea")], "what?", model="tiny-blip-vqa")["data"] == direct["data"]
