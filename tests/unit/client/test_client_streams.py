"""Server-sent events in the client: the parser's rules, and the streamed and plain methods of the newer routes
(questions, chat, streamed transcription, rerank) against a small Flask app served over real HTTP, which records
what it was sent and answers in the gateway's shapes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, jsonify, request
from polyserve_client import Polyserve, PolyserveError, chat_message
from polyserve_client.cli import app as cli_app
from polyserve_client.sse import event_data, json_events
from typer.testing import CliRunner

from tests.support.inprocess import serve_app

KEY = "sk-streams"


def sse(payload: dict[str, Any] | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n"


def chunk(content: str, finish: str | None = None) -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": content},
                                                            "finish_reason": finish}]}


class Recorder:
    """What the fake gateway received, and a gate the chat stream waits on between its two tokens."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.gate_opened_by_client: list[bool] = []


def gateway_app(recorder: Recorder) -> Flask:
    app = Flask(__name__)

    def record() -> None:
        recorder.requests.append({"path": request.path, "auth": request.headers.get("Authorization"),
                                  "json": request.get_json(silent=True), "form": request.form.to_dict(flat=False),
                                  "files": [(f.filename, f.read()) for f in request.files.getlist("file")]})

    @app.post("/v1/chat/completions")
    def chat() -> Any:
        record()
        body = request.get_json()
        if body["model"] == "missing":
            return jsonify(error={"message": "no such model", "type": "invalid_request_error", "param": "model",
                                  "code": "model_not_found"}), 404
        if not body["stream"]:
            return jsonify(object="chat.completion", choices=[{"message": {"role": "assistant", "content": "Hi!"}}])

        def events() -> Iterator[str]:
            yield ": a comment line\n\n" + sse(chunk("Hel"))
            recorder.gate_opened_by_client.append(recorder.gate.wait(10))  # the client read "Hel" before "lo"
            yield sse(chunk("lo", "stop"))
            if body["model"] == "failing":
                yield sse({"error": {"message": "the vision service stopped answering", "type": "server_error",
                                     "param": None, "code": "vision_unavailable"}})
            yield sse("[DONE]") + sse(chunk("after done"))

        return Response(events(), mimetype="text/event-stream")

    @app.post("/v1/audio/transcriptions")
    def transcriptions() -> Any:
        record()
        events = [{"type": "transcript.text.delta", "delta": "Hello"}, {"type": "transcript.text.delta",
                                                                        "delta": " world."},
                  {"type": "transcript.text.done", "text": "Hello world."}]
        return Response("".join(sse(event) for event in events), mimetype="text/event-stream")

    @app.post("/v1/images/questions")
    def questions() -> Any:
        record()
        return jsonify(object="list", model="tiny-blip-vqa", data=[
            {"index": 0, "answer": "two"}, {"index": 1, "error": {"code": "corrupt_image", "message": "bad"}}])

    @app.post("/v1/rerank")
    def rerank() -> Any:
        record()
        return jsonify(object="rerank", model="ce", results=[{"index": 1, "relevance_score": 0.9},
                                                             {"index": 0, "relevance_score": 0.2}])

    @app.get("/v1/models")
    def models() -> Any:
        return jsonify(object="list", data=[{"id": "clip", "modality": "image", "tasks": ["embed"]},
                                            {"id": "tiny-llava", "modality": "image", "tasks": ["answer", "chat"]}])

    return app


@pytest.fixture()
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture()
def url(recorder: Recorder) -> Iterator[str]:
    with serve_app(gateway_app(recorder)) as base_url:
        yield base_url


@pytest.fixture()
def client(url: str) -> Polyserve:
    return Polyserve(url, KEY, max_retries=0)


# -- the parser ---------------------------------------------------------------------------------------------------
def test_event_data_joins_data_lines_and_skips_comments_and_other_fields() -> None:
    lines = [": keep-alive", "", "event: chunk", "id: 7", "data: first", "data:second", "data:  indented", "",
             "retry: 100", "data", "", "data: unfinished"]
    assert list(event_data(lines)) == ["first\nsecond\n indented", ""]


def test_json_events_stop_at_done_and_raise_error_events_with_their_code() -> None:
    assert list(json_events(["data: {\"a\": 1}", "", "data: [DONE]", "", "data: {\"b\": 2}", ""])) == [{"a": 1}]
    failing = json_events(["data: {\"a\": 1}", "", "data: {\"error\": {\"code\": \"deadline_exceeded\", "
                           "\"message\": \"late\"}}", ""])
    assert next(failing) == {"a": 1}
    with pytest.raises(PolyserveError) as raised:
        next(failing)
    assert (raised.value.code, raised.value.message) == ("deadline_exceeded", "late")
    with pytest.raises(PolyserveError) as not_json:
        list(json_events(["data: {oops", ""]))
    assert not_json.value.code == "invalid_event"


# -- chat -----------------------------------------------------------------------------------------------------------
def test_streamed_chat_yields_each_chunk_as_it_arrives_and_stops_at_done(client: Polyserve,
                                                                       recorder: Recorder) -> None:
    received = []
    for event in client.chat([chat_message("Say hello")], model="tiny-llava", stream=True, max_tokens=4):
        received.append(event["choices"][0]["delta"]["content"])
        recorder.gate.set()
    assert received == ["Hel", "lo"]
    assert recorder.gate_opened_by_client == [True]
    sent = recorder.requests[0]
    assert sent["auth"] == f"Bearer {KEY}"
    assert sent["json"] == {"model": "tiny-llava", "messages": [{"role": "user", "content": "Say hello"}],
                            "stream": True, "max_tokens": 4}


def test_an_error_after_the_stream_started_raises_with_its_code(client: Polyserve, recorder: Recorder) -> None:
    recorder.gate.set()
    stream = client.chat([chat_message("x")], model="failing", stream=True)
    assert [event["choices"][0]["delta"]["content"] for event in (next(stream), next(stream))] == ["Hel", "lo"]
    with pytest.raises(PolyserveError) as raised:
        next(stream)
    assert raised.value.code == "vision_unavailable"


def test_an_error_before_the_stream_raises_at_the_call(client: Polyserve) -> None:
    with pytest.raises(PolyserveError) as raised:
        client.chat([chat_message("x")], model="missing", stream=True)
    assert (raised.value.status, raised.value.code, raised.value.param) == (404, "model_not_found", "model")


def test_whole_chat_answer_and_images_as_data_uri_parts(client: Polyserve, recorder: Recorder,
                                                        tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_bytes(b"png")
    answer = client.chat([chat_message("What is it?", [tmp_path / "cat.png"])], model="tiny-llava", temperature=0)
    assert answer["choices"][0]["message"]["content"] == "Hi!"
    sent = recorder.requests[0]["json"]
    assert sent["stream"] is False and sent["temperature"] == 0
    assert sent["messages"][0]["content"] == [{"type": "image_url", "image_url": {"url": "data:image/png;base64,cG5n"}},
                                              {"type": "text", "text": "What is it?"}]


# -- transcription, questions, rerank -------------------------------------------------------------------------------
def test_streamed_transcription_sends_stream_true_and_yields_the_events(client: Polyserve,
                                                                        recorder: Recorder) -> None:
    events = list(client.transcribe_stream(b"RIFF...", language="en"))
    assert [event["type"] for event in events] == ["transcript.text.delta"] * 2 + ["transcript.text.done"]
    assert "".join(event.get("delta", "") for event in events) == events[-1]["text"]
    form = recorder.requests[0]["form"]
    assert form["stream"] == ["true"] and form["response_format"] == ["json"] and form["language"] == ["en"]


def test_ask_sends_the_images_and_the_question(client: Polyserve, recorder: Recorder, tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"jpeg-a")
    answer = client.ask([tmp_path / "a.jpg", b"raw"], "How many cats?", model="tiny-blip-vqa")
    assert answer["data"][0]["answer"] == "two"
    sent = recorder.requests[0]
    assert sent["files"] == [("a.jpg", b"jpeg-a"), ("upload", b"raw")]
    assert sent["form"] == {"question": ["How many cats?"], "model": ["tiny-blip-vqa"]}


def test_rerank_sends_the_cohere_body(client: Polyserve, recorder: Recorder) -> None:
    answer = client.rerank("cats", ["stocks", "cats sleep"], model="ce", top_n=2)
    assert [result["index"] for result in answer["results"]] == [1, 0]
    assert recorder.requests[0]["json"] == {"query": "cats", "documents": ["stocks", "cats sleep"], "model": "ce",
                                            "top_n": 2}


# -- the command line -----------------------------------------------------------------------------------------------
def run_cli(url: str, *args: str) -> str:
    result = CliRunner().invoke(cli_app, ["--url", url, "--api-key", KEY, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_chat_stream_prints_the_tokens_with_the_default_chat_model(url: str, recorder: Recorder) -> None:
    recorder.gate.set()
    assert run_cli(url, "chat", "Say hello", "--stream") == "Hello\n"
    assert recorder.requests[0]["json"]["model"] == "tiny-llava"


def test_cli_ask_rerank_and_streamed_transcribe(url: str, tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"jpeg-a")
    (tmp_path / "b.jpg").write_bytes(b"jpeg-b")
    (tmp_path / "s.wav").write_bytes(b"RIFF")
    answers = run_cli(url, "ask", str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg"), "--question", "How many?")
    assert "two" in answers and "corrupt_image" in answers
    ranked = run_cli(url, "--json", "rerank", "cats", "stocks", "cats sleep")
    assert [result["index"] for result in json.loads(ranked)["results"]] == [1, 0]
    assert run_cli(url, "transcribe", str(tmp_path / "s.wav"), "--stream") == "Hello world.\n"
