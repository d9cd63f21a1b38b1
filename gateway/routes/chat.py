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
from typing import Annotated, Any, Literal, get_args, get_origin

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


class ChatTextPart(Strict):
    type: Literal["text"]
    text: str


class ChatImageUrl(Strict):
    url: str = Field(min_length=1, description="data:image/...;base64,... or an allow-listed http(s) URL")
    detail: Literal["auto", "low", "high"] | None = None


class ChatImagePart(Strict):
    type: Literal["image_url"]
    image_url: ChatImageUrl


class ChatInputAudio(Strict):
    data: str = Field(min_length=1, description="base64 of the recording")
    format: Literal["wav", "mp3"]


class ChatAudioPart(Strict):
    type: Literal["input_audio"]
    input_audio: ChatInputAudio


Part = Annotated[ChatTextPart | ChatImagePart | ChatAudioPart, Field(discriminator="type")]


# One model per role, as OpenAI's API has them: instructions and earlier answers are text, only the user shows
# images and speaks; only an assistant turn may have no content. The OpenAPI schema is generated from these.
class ChatSystemMessage(Strict):
    """Instructions (``developer`` is OpenAI's newer name for ``system``): text only."""

    role: Literal["system", "developer"]
    content: str | list[ChatTextPart]
    name: str | None = None


class ChatUserMessage(Strict):
    """What the user says: text, images and recordings."""

    role: Literal["user"]
    content: str | list[Part]
    name: str | None = None


class ChatAssistantMessage(Strict):
    """An earlier answer: text only, or no content."""

    role: Literal["assistant"]
    content: str | list[ChatTextPart] | None = None
    name: str | None = None


AnyMessage = ChatSystemMessage | ChatUserMessage | ChatAssistantMessage
ChatMessage = Annotated[AnyMessage, Field(discriminator="role")]


class ChatStreamOptions(Strict):
    include_usage: bool = False


class ChatCompletionRequest(Strict):
    model: str = Field(min_length=1, max_length=128,
                       description="A vision model serving `chat` (GET /v1/models lists them).")
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1, description="At most VISION_CHAT_MAX_NEW_TOKENS_LIMIT.")
    max_completion_tokens: int | None = Field(None, ge=1, description="Takes precedence over max_tokens.")
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    seed: int | None = Field(None, ge=-(2**63), le=2**63 - 1, description="A 64-bit integer.")
    n: Literal[1] = 1
    stream: bool = False
    stream_options: ChatStreamOptions | None = None
    user: str | None = None


def _literal(model: type[BaseModel], field: str) -> tuple[str, ...]:
    return get_args(model.model_fields[field].annotation)


def _part_types(message: type[BaseModel]) -> set[str]:
    """The ``type`` values a message model's list content takes, read from its annotation."""
    types: set[str] = set()
    for option in get_args(message.model_fields["content"].annotation):
        if get_origin(option) is list:
            item = get_args(option)[0]
            item = get_args(item)[0] if get_origin(item) is Annotated else item
            types |= {kind for part in (get_args(item) or (item,)) for kind in _literal(part, "type")}
    return types


PART_TYPES_OF_ROLE = {role: _part_types(model) for model in get_args(AnyMessage) for role in _literal(model, "role")}
ALL_PART_TYPES = set().union(*PART_TYPES_OF_ROLE.values())


def check_parts_by_role(messages: Any) -> None:
    """A known part in a role that does not take it gets a 400 that says so, naming the part (pydantic's union
    errors would name the union's branches instead)."""
    if not isinstance(messages, list):
        return
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), list):
            continue
        role = message.get("role")
        allowed = PART_TYPES_OF_ROLE.get(role) if isinstance(role, str) else None
        if allowed is None:
            continue
        for position, part in enumerate(message["content"]):
            kind = part.get("type") if isinstance(part, dict) else None
            if isinstance(kind, str) and kind in ALL_PART_TYPES and kind not in allowed:
                raise InvalidInput(f"a {role} message takes only {', '.join(sorted(allowed))} parts, not {kind}; "
                                   f"images and audio go in user messages",
                                   param=f"messages[{index}].content[{position}]", code="unsupported_content_part")


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
    check_parts_by_role(body.get("messages"))
    return parse_model(ChatCompletionRequest, {k: v for k, v in body.items() if k not in NEUTRAL_FIELDS},
                       strict=True)


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

    def _message(self, index: int, message: AnyMessage) -> dict[str, Any]:
        role = "system" if message.role == "developer" else message.role
        if message.content is None or isinstance(message.content, str):
            return {"role": role, "content": message.content or ""}
        return {"role": role, "content": [self._part(index, position, part)
                                          for position, part in enumerate(message.content)]}

    def _part(self, index: int, position: int, part: ChatTextPart | ChatImagePart | ChatAudioPart) -> dict[str, Any]:
        if isinstance(part, ChatTextPart):
            return {"type": "text", "text": part.text}
        if isinstance(part, ChatImagePart):
            return {"type": "image", "image": part.image_url.url}
        return {"type": "text", "text": self._transcribe(index, position, part.input_audio)}

    def _transcribe(self, index: int, position: int, audio: ChatInputAudio) -> str:
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
