"""Streamed transcription: OpenAI's ``transcript.text.delta`` events, one per segment as the recogniser finishes
it, then one ``transcript.text.done`` with the whole text (server-sent events).

The recording goes through the model's batcher like any other; the job hands each finished segment to a queue
that the response drains. Backends that do not report segments one by one (the transformers ones) send theirs
when the transcript is done. A client that leaves cancels the job between two segments. The text is never
logged.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Response

from servekit.errors import ApiError, DeadlineExceeded, InferenceError, InvalidInput
from servekit.models import ModelPool
from services.audio.items import Segment, Transcript, TranscriptionItem

STREAMABLE_FORMATS = frozenset({"json", "text"})


@dataclass(frozen=True)
class _Finished:
    result: Any  # Transcript or Exception


def check_streamable(response_format: str) -> None:
    if response_format not in STREAMABLE_FORMATS:
        raise InvalidInput(f"stream=true gives text events; response_format {response_format!r} cannot stream "
                           f"(use json or text)", param="response_format", code="unsupported_stream_format")


def event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def delta_text(segment_text: str, first: bool) -> str:
    """Segment texts joined as :attr:`Transcript.text` joins them: stripped, one space between."""
    text = segment_text.strip()
    return text if first or not text else " " + text


class SegmentStream:
    """Runs one transcription in the background and yields its events as segments arrive."""

    def __init__(self, pool: ModelPool, model: str, job: TranscriptionItem, budget_s: float) -> None:
        self.events: queue.Queue[Segment | _Finished] = queue.Queue()
        self.job = job
        self.deadline = time.monotonic() + budget_s
        self._worker = threading.Thread(target=self._run, args=(pool, model, budget_s), name="transcript-stream",
                                        daemon=True)

    def _run(self, pool: ModelPool, model: str, budget_s: float) -> None:
        try:
            result: Any = pool.run(model, "transcribe", [self.job], budget_s)[0]
        except Exception as exc:  # noqa: BLE001 - reported as the stream's last event
            result = exc
        self.events.put(_Finished(result))

    def __iter__(self) -> Iterator[str]:
        self._worker.start()
        sent = 0
        try:
            while True:
                item = self.events.get(timeout=max(self.deadline - time.monotonic(), 0.0) + 1.0)
                if isinstance(item, _Finished):
                    break
                if text := delta_text(item.text, sent == 0):
                    yield event({"type": "transcript.text.delta", "delta": text})
                sent += 1
            yield from self._finish(item.result, sent)
        except queue.Empty:
            yield event(DeadlineExceeded("the transcription did not finish in time").body())
        finally:
            self.job.cancelled.set()

    def _finish(self, result: Any, sent: int) -> Iterator[str]:
        if isinstance(result, Exception):
            error = result if isinstance(result, ApiError) else InferenceError("transcription failed")
            yield event(error.body())
            return
        transcript: Transcript = result
        for index, segment in enumerate(transcript.segments[sent:], start=sent):
            if text := delta_text(segment.text, index == 0):
                yield event({"type": "transcript.text.delta", "delta": text})
        yield event({"type": "transcript.text.done", "text": transcript.text})


def stream_transcript(pool: ModelPool, model: str, job: TranscriptionItem, budget_s: float) -> Response:
    """The events of one transcription; the queue that collects its segments is the job's ``on_segment``."""
    stream = SegmentStream(pool, model, job, budget_s)
    job.on_segment.append(stream.events.put)
    return Response(iter(stream), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})
