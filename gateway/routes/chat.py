"""``POST /v1/chat/completions``: OpenAI's chat API over the vision service's image-text-to-text models.

Messages carry string content or parts: ``text``, ``image_url`` (data URIs; http(s) URLs are fetched by the vision
service under its URL policy: allow-listed hosts, public addresses only) and ``input_audio`` (base64 wav or mp3:
transcribed by the audio service, handed to the model as text, and reported back in ``transcripts``). A streamed
answer is relayed chunk by chunk as ``chat.completion.chunk`` server-sent events ending in ``[DONE]``; a client
that leaves closes the upstream stream, which stops the generation. Fields this server does not implement are
refused with a 400 that names them. Prompts, images and answers are never logged.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import requests
from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from gateway.upstreams import upstream
from servekit.client import UpstreamError
from servekit.errors import InvalidInput
from servekit.validation import parse_model, require_json

bp = Blueprint("chat", __name__, url_prefix="/v1")

CHAT_PATH = "/v1/chat"
TRANSCRIBE_PATH = "/v1/transcribe"
MAX_AUDIO_PARTS = 4
# OpenAI fields accepted only at their neutral value (clients such as LangChain send them by default).
NEUTRAL_FIELDS: dict[str, tuple[Any, ...]] = {
    "frequency_penalty": (None, 0, 0.0), "presence_penalty": (None, 0, 0.0), "logprobs": (None, False),
    "top_logprobs": (None, 0), "parallel_tool_calls": (None, True), "tools": (None, []), "store": (None, False),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextContent(Strict):
    type: Literal["text"]
    text: str


class ImageUrl(Strict):
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class ImageContent(Strict):
    type: Literal["image_url"]
    image_url: ImageUrl


class InputAudio(Strict):
    data: str = Field(min_length=1, description="base64 of the recording")
    format: Literal["wav", "mp3"]


class AudioContent(Strict):
    type: Literal["input_audio"]
    input_audio: InputAudio


Part = Annotated[TextContent | ImageContent | AudioContent, Field(discriminator="type")]


class ChatMessage(Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[Part] | None = None
    name: str | None = None


class StreamOptions(Strict):
    include_usage: bool = False


class ChatCompletionRequest(Strict):
    model: str = Field(min_length=1, max_length=128)
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: Literal[1] = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None


def unsupported_fields(body: dict[str, Any]) -> list[str]:
    """Top-level fields this server does not implement (the neutral values of a few are tolerated)."""
    known = set(ChatCompletionRequest.model_fields)
    return sorted(key for key, value in body.items()
                  if key not in known and not (key in NEUTRAL_FIELDS and value in NEUTRAL_FIELDS[key]))


def parse_request(body: Any) -> ChatCompletionRequest:
    if not isinstance(body, dict):
        raise InvalidInput("JSON body must be an object with 'model' and 'messages'", code="invalid_request")
    unknown = unsupported_fields(body)
    if unknown:
        raise InvalidInput(f"unsupported field(s): {', '.join(unknown)}", param=unknown[0],
                           code="unsupported_parameter")
    return parse_model(ChatCompletionRequest, {k: v for k, v in body.items() if k not in NEUTRAL_FIELDS})


def cacheable() -> bool:
    """Only whole answers that repeat: not streamed, greedy or seeded, and no image fetched from a URL."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or body.get("stream"):
        return False
    if body.get("temperature") != 0 and body.get("seed") is None:
        return False
    return "http://" not in request.get_data(as_text=True).replace("https://", "http://")


# -- the vision service's contract --------------------------------------------------------------------------
class Conversation:
    """The request turned into the vision service's form, audio parts replaced by their transcripts."""

    def __init__(self, chat: ChatCompletionRequest) -> None:
        self.transcripts: list[dict[str, Any]] = []
        self.messages = [self._message(index, message) for index, message in enumerate(chat.messages)]

    def _message(self, index: int, message: ChatMessage) -> dict[str, Any]:
        role = "system" if message.role == "developer" else message.role
        if message.content is None or isinstance(message.content, str):
            return {"role": role, "content": message.content or ""}
        return {"role": role, "content": [self._part(index, position, part)
                                          for position, part in enumerate(message.content)]}

    def _part(self, index: int, position: int, part: TextContent | ImageContent | AudioContent) -> dict[str, Any]:
        if isinstance(part, TextContent):
            return {"type": "text", "text": part.text}
        if isinstance(part, ImageContent):
            return {"type": "image", "image": part.image_url.url}
        return {"type": "text", "text": self._transcribe(index, position, part.input_audio)}

    def _transcribe(self, index: int, position: int, audio: InputAudio) -> str:
        if len(self.transcripts) >= MAX_AUDIO_PARTS:
            raise InvalidInput(f"at most {MAX_AUDIO_PARTS} audio parts per request",
                               param=f"messages[{index}].content[{position}]", code="too_many_inputs")
        try:
            answer = upstream("audio").post_json(TRANSCRIBE_PATH, {"audio": audio.data, "response_format": "json"})
        except UpstreamError as error:
            if error.status < 500:  # the recording was bad: say which part
                error.param = f"messages[{index}].content[{position}]"
            raise
        text = str(answer.get("text", ""))
        self.transcripts.append({"message": index, "part": position, "text": text})
        return text


def vision_body(chat: ChatCompletionRequest, conversation: Conversation) -> dict[str, Any]:
    stop = [chat.stop] if isinstance(chat.stop, str) else (chat.stop or [])
    body: dict[str, Any] = {"model": chat.model, "messages": conversation.messages, "temperature": chat.temperature,
                            "top_p": chat.top_p, "seed": chat.seed, "stop": stop, "stream": chat.stream}
    tokens = chat.max_completion_tokens or chat.max_tokens
    if tokens is not None:
        body["max_new_tokens"] = tokens
    return body


def token_param(chat: ChatCompletionRequest) -> str:
    return "max_completion_tokens" if chat.max_completion_tokens is not None else "max_tokens"


def call_vision(chat: ChatCompletionRequest, body: dict[str, Any]) -> requests.Response:
    """The vision service's answer (streamed or not); its errors named by the client's own field names."""
    try:
        return upstream("vision").request("POST", CHAT_PATH, json=body, stream=chat.stream)
    except UpstreamError as error:
        if error.param == "max_new_tokens":
            error.param = token_param(chat)
            error.message = error.message.replace("max_new_tokens", error.param)
        raise


# -- OpenAI's answer shapes ---------------------------------------------------------------------------------
class Completion:
    """The id, creation time and model every chunk of one answer repeats."""

    def __init__(self, model: str, transcripts: list[dict[str, Any]]) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.transcripts = transcripts

    def head(self, kind: str) -> dict[str, Any]:
        head = {"id": self.id, "object": kind, "created": self.created, "model": self.model,
                "system_fingerprint": None}
        return head | ({"transcripts": self.transcripts} if self.transcripts else {})

    def whole(self, answer: dict[str, Any]) -> dict[str, Any]:
        message = {"role": "assistant", "content": answer["text"], "refusal": None}
        choice = {"index": 0, "message": message, "logprobs": None,
                  "finish_reason": finish_reason(answer["finish_reason"])}
        return {**self.head("chat.completion"), "choices": [choice], "usage": answer["usage"]}

    def chunk(self, delta: dict[str, Any], finish: str | None = None, usage: Any = None,
              with_usage: bool = False) -> dict[str, Any]:
        chunk = {**self.head("chat.completion.chunk"),
                 "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return chunk | ({"usage": usage} if with_usage else {})

    def usage_chunk(self, usage: dict[str, Any]) -> dict[str, Any]:
        return {**self.head("chat.completion.chunk"), "choices": [], "usage": usage}


def finish_reason(reason: str) -> str:
    return "length" if reason == "length" else "stop"


def sse(payload: dict[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


def relay_stream(upstream_response: requests.Response, completion: Completion, include_usage: bool) -> Iterator[str]:
    """Each upstream NDJSON line as it arrives -> OpenAI chunks; closing this (the client left) closes upstream."""
    try:
        yield sse(completion.chunk({"role": "assistant", "content": ""}, with_usage=include_usage))
        for raw in upstream_response.iter_lines(chunk_size=None):  # type: ignore[call-overload]  # as it arrives
            if not raw:
                continue
            line = json.loads(raw)
            if "delta" in line:
                yield sse(completion.chunk({"content": line["delta"]}, with_usage=include_usage))
            elif "error" in line:
                yield sse({"error": line["error"]})
                break
            else:
                yield sse(completion.chunk({}, finish_reason(line["finish_reason"]), with_usage=include_usage))
                if include_usage:
                    yield sse(completion.usage_chunk(line["usage"]))
        yield sse("[DONE]")
    except requests.RequestException:
        yield sse({"error": {"message": "the vision service stopped answering", "type": "server_error",
                             "param": None, "code": "vision_unavailable"}})
    finally:
        upstream_response.close()


@bp.post("/chat/completions")
def create_chat_completion() -> Any:
    chat = parse_request(require_json())
    conversation = Conversation(chat)
    response = call_vision(chat, vision_body(chat, conversation))
    completion = Completion(chat.model, conversation.transcripts)
    if not chat.stream:
        return jsonify(completion.whole(response.json()))
    include_usage = bool(chat.stream_options and chat.stream_options.include_usage)
    return Response(relay_stream(response, completion, include_usage), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
