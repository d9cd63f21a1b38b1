"""What a speech recogniser is handed per recording (an item) and what it answers, backend-independent."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from servekit.errors import DeadlineExceeded

Granularity = Literal["segment", "word"]


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    word_timestamps: bool = False


@dataclass(frozen=True)
class TranscriptionItem:
    """One recording for the batcher; ``deadline`` (monotonic) bounds how long the model works on it."""

    samples: np.ndarray
    sample_rate: int
    options: TranscribeOptions
    deadline: float
    # Streamed transcription: told of each segment as it is finished; set ``cancelled`` when the client leaves.
    on_segment: list[Callable[[Segment], None]] = field(default_factory=list)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    def check_deadline(self, model: str) -> None:
        """Stop working on a recording whose caller's time is up (called between segments)."""
        if time.monotonic() > self.deadline:
            raise DeadlineExceeded(f"model {model} ran out of time transcribing this recording")
        if self.cancelled.is_set():
            raise DeadlineExceeded(f"the caller of model {model} left", code="cancelled")

    def finished(self, segment: Segment) -> None:
        for listener in self.on_segment:
            listener(segment)


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    words: list[Word] | None = None
    # Decoder statistics, present when the backend reports them (faster-whisper does).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Transcript:
    language: str | None
    duration: float
    segments: list[Segment]

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in (s.words or [])]
