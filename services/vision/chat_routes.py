"""``POST /v1/answer`` (a short answer per image to one question) and ``POST /v1/chat`` (continue a conversation
of text and images, whole or streamed as NDJSON lines) of the vision service.

``/v1/answer`` takes the three request forms of the other image routes. ``/v1/chat`` takes JSON only:
``{"model"?, "messages": [{"role", "content": str | [{"type": "text", "text"} | {"type": "image", "image"}]}],
"max_new_tokens"?, "temperature", "top_p", "seed"?, "stop"?, "stream"}``, images as base64, data URIs or (when
enabled) allow-listed URLs. A streamed answer is a line ``{"delta": text}`` per decoded piece, then one
``{"finish_reason", "usage"}`` line (or ``{"error"}``). Prompts, images and answers are never logged.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from flask import Blueprint, Flask, Response, current_app, jsonify
from PIL import Image
from prometheus_client import Counter
from pydantic import BaseModel, ConfigDict, Field

from servekit.app import current_settings, metrics_of
from servekit.context import remaining_s
from servekit.errors import ApiError, DeadlineExceeded, InferenceError, InvalidInput
from servekit.models import current_pool
from servekit.slots import AppSlot
from servekit.validation import parse_json, parse_model
from services.vision.chat_settings import GenerationSettings
from services.vision.generation import (
    ChatAnswer,
    ChatItem,
    GenerationGate,
    QuestionItem,
    Role,
    Sampling,
    StopFilter,
    Turn,
)
from services.vision.intake import IMAGE_INTAKE, ImageIntake
from services.vision.routes import _model, _serve

bp = Blueprint("vision_chat", __name__, url_prefix="/v1")
GATE: AppSlot[GenerationGate] = AppSlot("generation_gate")
OUTCOMES: AppSlot[Counter] = AppSlot("generation_outcomes")


class AnswerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, min_length=1)
    question: str = Field(min_length=1, max_length=2000)
    max_new_tokens: int | None = Field(None, ge=1)


class TextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str


class ImagePart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["image"]
    image: str = Field(min_length=1, description="base64, a data URI or an http(s) URL")


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str | list[Annotated[TextPart | ImagePart, Field(discriminator="type")]]


class ChatParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, min_length=1)
    messages: list[Message] = Field(min_length=1)
    max_new_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stop: list[str] = Field(default_factory=list, max_length=4)
    stream: bool = False


def install_generation(app: Flask, settings: GenerationSettings) -> None:
    """The question and chat routes, the gate that bounds concurrent generations, and their outcome counter."""
    GATE.set(app, GenerationGate(settings.max_concurrent_generations))
    OUTCOMES.set(app, Counter("chat_generations_total", "Chat generations by model and how they ended "
                                       "(stop, length, cancelled, error).", ["model", "outcome"],
                                       registry=metrics_of(app).registry))
    app.register_blueprint(bp)


def _count(model: str, result: Any) -> None:
    outcome = "error" if isinstance(result, Exception) else result.finish_reason
    OUTCOMES.current().labels(model, outcome).inc()


def _gate() -> GenerationGate:
    return GATE.current()


def _intake() -> ImageIntake:
    return IMAGE_INTAKE.current()


def _check_tokens(requested: int | None, default: int, limit: int, param: str) -> int:
    """The requested bound, refused (not clipped) past the configured limit."""
    tokens = requested or default
    if tokens > limit:
        raise InvalidInput(f"{param} may be at most {limit}", param=param, code="limit_exceeded")
    return tokens


def fit_image(image: Image.Image, side: int) -> Image.Image:
    """Scaled down (aspect kept) to ``side``: bounds the image tokens a dynamic-resolution model makes."""
    if max(image.size) <= side:
        return image
    fitted = image.copy()
    fitted.thumbnail((side, side), Image.Resampling.BICUBIC)
    return fitted


@bp.post("/answer")
def answer() -> Any:
    settings = current_settings(GenerationSettings)
    request = _intake().read()
    params = parse_model(AnswerParams, request.params)
    limit = max(settings.answer_max_new_tokens, settings.chat_max_new_tokens_limit)
    tokens = _check_tokens(params.max_new_tokens, settings.answer_max_new_tokens, limit, "max_new_tokens")
    name = _model("answer", params.model)
    side, deadline = settings.chat_image_side, time.monotonic() + remaining_s()
    gate = _gate()
    gate.acquire()
    try:
        return _serve("answer", request, name,
                      lambda image: QuestionItem(fit_image(image, side), question=params.question,
                                                max_new_tokens=tokens, deadline=deadline),
                      lambda text: {"answer": text})
    finally:
        gate.release()


# -- chat ---------------------------------------------------------------------------------------------------
def _check_size(params: ChatParams, settings: GenerationSettings) -> None:
    if len(params.messages) > settings.chat_max_messages:
        raise InvalidInput(f"at most {settings.chat_max_messages} messages per conversation", param="messages",
                           code="too_many_messages")
    parts = [part for message in params.messages if isinstance(message.content, list) for part in message.content]
    texts = [message.content for message in params.messages if isinstance(message.content, str)]
    texts += [part.text for part in parts if isinstance(part, TextPart)]
    if sum(len(text) for text in texts) > settings.chat_max_text_chars:
        raise InvalidInput(f"the conversation has more than {settings.chat_max_text_chars} characters of text",
                           param="messages", code="context_length_exceeded")
    images = sum(isinstance(part, ImagePart) for part in parts)
    if images > settings.chat_max_images:
        raise InvalidInput(f"at most {settings.chat_max_images} images per conversation, got {images}",
                           param="messages", code="too_many_images")


def _decode_part(part: TextPart | ImagePart, param: str, side: int) -> str | Image.Image:
    if isinstance(part, TextPart):
        return part.text
    intake = _intake()
    image = intake.decode([intake._source(part.image, param)])[0]
    if isinstance(image, ApiError):
        raise image
    return fit_image(image, side)


def _turns(params: ChatParams, side: int) -> list[Turn]:
    """Every message with its images fetched and decoded; the first bad image fails the request, named."""
    turns = []
    for index, message in enumerate(params.messages):
        if isinstance(message.content, str):
            turns.append(Turn(message.role, (message.content,)))
            continue
        parts = tuple(_decode_part(part, f"messages[{index}].content[{position}]", side)
                      for position, part in enumerate(message.content))
        turns.append(Turn(message.role, parts))
    return turns


def _usage(answer: ChatAnswer) -> dict[str, int]:
    return {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
            "total_tokens": answer.prompt_tokens + answer.completion_tokens}


@bp.post("/chat")
def chat() -> Any:
    settings = current_settings(GenerationSettings)
    params = parse_json(ChatParams)
    tokens = _check_tokens(params.max_new_tokens, settings.chat_max_new_tokens, settings.chat_max_new_tokens_limit,
                           "max_new_tokens")
    _check_size(params, settings)
    name = _model("chat", params.model)
    sampling = Sampling(max_new_tokens=tokens, temperature=params.temperature, top_p=params.top_p,
                        seed=params.seed, stop=tuple(params.stop))
    item = ChatItem(_turns(params, settings.chat_image_side), sampling, deadline=time.monotonic() + remaining_s())
    gate = _gate()
    gate.acquire()
    if params.stream:
        return _stream_response(name, item, gate)
    try:
        result = current_pool().run(name, "chat", [item], remaining_s())[0]
    finally:
        item.cancel.set()  # stops the generation if this request gave up waiting (deadline)
        gate.release()
    _count(name, result)
    if isinstance(result, Exception):
        raise result
    return jsonify(object="chat.answer", model=name, text=result.text, finish_reason=result.finish_reason,
                   usage=_usage(result))


def _line(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False) + "\n"


def _stream_response(name: str, item: ChatItem, gate: GenerationGate) -> Response:
    """NDJSON lines as the model decodes; the server closing the response (the client left) cancels the item."""
    try:
        backend: Any = current_pool().backend(name, "chat")
        item.streamer = backend.make_streamer(max(remaining_s(), 0.1))
    except Exception:
        gate.release()
        raise
    released = threading.Lock()

    def finish() -> None:
        item.cancel.set()
        if released.acquire(blocking=False):  # once, whichever comes first
            gate.release()

    # Released when the stream ends, and when the server closes a response whose stream never started.
    response = Response(_streamed(name, item, finish), mimetype="application/x-ndjson")
    response.call_on_close(finish)
    return response


def _streamed(name: str, item: ChatItem, finish: Callable[[], None]) -> Iterator[str]:
    """Text pieces as the model decodes them; closing this generator cancels the item."""
    pool, budget = current_pool(), max(item.deadline - time.monotonic(), 0.0)
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # the worker thread counts the outcome
    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.extend(pool.run(name, "chat", [item], budget))
        except Exception as exc:  # noqa: BLE001 - reported in the stream's last line
            outcome.append(exc)
        finally:
            item.streamer.end()  # wakes the reader even when generation never started
            with app.app_context():
                _count(name, outcome[0] if outcome else DeadlineExceeded("no answer"))

    worker = threading.Thread(target=work, name="chat-stream", daemon=True)
    stops = StopFilter(item.sampling.stop)

    def lines() -> Iterator[str]:
        try:
            worker.start()
            for piece in item.streamer:
                if text := stops.feed(piece):
                    yield _line({"delta": text})
            if text := stops.flush():
                yield _line({"delta": text})
            worker.join(max(item.deadline - time.monotonic(), 0.0) + 1.0)
            yield _line(_last_line(outcome))
        except queue.Empty:
            yield _line(DeadlineExceeded("the model did not answer in time").body())
        finally:
            finish()

    return lines()


def _last_line(outcome: list[Any]) -> dict[str, Any]:
    result = outcome[0] if outcome else DeadlineExceeded("the model did not answer in time")
    if isinstance(result, ApiError):
        return result.body()
    if isinstance(result, Exception):
        return InferenceError("generation failed").body()
    return {"finish_reason": result.finish_reason, "usage": _usage(result)}
