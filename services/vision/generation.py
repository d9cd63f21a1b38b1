"""What a generative vision model is asked (questions, conversations) and how its generation is bounded.

A :class:`ChatItem` carries a whole conversation (text and decoded images, in order), the sampling options, a
deadline and a cancel flag; a streamed item also carries the streamer its text goes to. :class:`GenerationGate`
bounds how many generations run (or wait) at once: the excess is refused at once with 503 + ``Retry-After``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from servekit.errors import Overloaded
from services.vision.items import ImageItem

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class Sampling:
    """Generation options; items of a batch that agree on them share one ``generate`` call."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass(frozen=True)
class Turn:
    """One message: its role and its parts, each a text string or a decoded image."""

    role: Role
    parts: tuple[str | Image.Image, ...]


@dataclass(frozen=True)
class QuestionItem(ImageItem):
    """One image and one question about it (``POST /v1/answer``)."""

    question: str = ""
    max_new_tokens: int = 20
    deadline: float = float("inf")  # time.monotonic() past which generation stops (504)


@dataclass
class ChatItem:
    """One conversation to continue; ``cancel`` stops its generation (a client that left, a deadline)."""

    turns: list[Turn]
    sampling: Sampling
    deadline: float
    cancel: threading.Event = field(default_factory=threading.Event)
    streamer: Any = None  # a transformers TextIteratorStreamer when the answer is streamed
    timed_out: bool = False  # generation was stopped by the deadline

    @property
    def images(self) -> list[Image.Image]:
        return [part for turn in self.turns for part in turn.parts if isinstance(part, Image.Image)]

    def should_stop(self) -> bool:
        """Asked after every token: the client left, or the deadline passed (remembered: the answer is a 504)."""
        if time.monotonic() > self.deadline:
            self.timed_out = True
        return self.cancel.is_set() or self.timed_out


@dataclass(frozen=True)
class ChatAnswer:
    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


def trim_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """The text before the first stop sequence (OpenAI leaves it out), and whether one was found."""
    cuts = [index for index in (text.find(s) for s in stop if s) if index >= 0]
    return (text[:min(cuts)], True) if cuts else (text, False)


class GenerationGate:
    """At most ``limit`` generations in flight per service; one more is refused, never queued."""

    def __init__(self, limit: int, retry_after_s: int = 1) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        self.limit = limit
        self.retry_after_s = retry_after_s
        self._active = 0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self._slots.acquire(blocking=False):
            raise Overloaded(f"{self.limit} generations are running, retry later", retry_after_s=self.retry_after_s,
                             code="too_many_generations")
        with self._lock:
            self._active += 1

    def release(self) -> None:
        with self._lock:
            self._active -= 1
        self._slots.release()

    @property
    def active(self) -> int:
        return self._active


class StopFilter:
    """Streams text without its stop sequence: holds back just enough characters to see one arrive."""

    def __init__(self, stop: tuple[str, ...]) -> None:
        self.stop = tuple(s for s in stop if s)
        self._hold = max((len(s) for s in self.stop), default=1) - 1
        self._pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """The part of the text so far that is safe to send; nothing more once a stop sequence was seen."""
        if self.stopped:
            return ""
        self._pending += piece
        text, self.stopped = trim_at_stop(self._pending, self.stop)
        if self.stopped:
            self._pending = ""
            return text
        cut = len(self._pending) - self._hold
        ready, self._pending = self._pending[:max(cut, 0)], self._pending[max(cut, 0):]
        return ready

    def flush(self) -> str:
        rest, self._pending = ("" if self.stopped else self._pending), ""
        return rest
