"""A transcript rendered as the client asked: json, verbose_json, text, srt or vtt (OpenAI's formats).

Subtitles are built with real libraries (``srt`` and ``webvtt-py``), so their output parses with them too.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

from flask import Response, jsonify

from services.audio.items import Segment, Transcript, Word

ResponseFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]

CONTENT_TYPES = {
    "text": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}


def _round(value: float) -> float:
    return round(float(value), 3)


def word_json(word: Word) -> dict[str, Any]:
    entry: dict[str, Any] = {"word": word.word, "start": _round(word.start), "end": _round(word.end)}
    if word.probability is not None:
        entry["probability"] = round(float(word.probability), 4)
    return entry


def segment_json(segment: Segment, *, verbose: bool, with_words: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": segment.id, "start": _round(segment.start), "end": _round(segment.end),
                             "text": segment.text}
    if with_words and segment.words is not None:
        entry["words"] = [word_json(w) for w in segment.words]
    if verbose:
        entry.update(segment.extra)
    return entry


def transcript_json(transcript: Transcript, *, verbose: bool, with_words: bool, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "text": transcript.text,
        "language": transcript.language,
        "duration": _round(transcript.duration),
        "segments": [segment_json(s, verbose=verbose, with_words=with_words) for s in transcript.segments],
    }
    if verbose:
        body = {"task": "transcribe", **body, "model": model}
        if with_words:
            body["words"] = [word_json(w) for w in transcript.words]
    return body


def cue_text(segment: Segment) -> str:
    """A segment's text as one subtitle line: no line breaks and no ``-->`` (both end a cue early)."""
    return " ".join(segment.text.split()).replace("-->", "->")


def to_srt(transcript: Transcript) -> str:
    import srt

    subtitles = [
        srt.Subtitle(index=i + 1, start=datetime.timedelta(seconds=s.start),
                     end=datetime.timedelta(seconds=max(s.end, s.start + 0.001)), content=cue_text(s))
        for i, s in enumerate(transcript.segments) if cue_text(s)
    ]
    return str(srt.compose(subtitles, reindex=False))


def _vtt_time(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def to_vtt(transcript: Transcript) -> str:
    import webvtt

    captions = [webvtt.Caption(start=_vtt_time(s.start), end=_vtt_time(max(s.end, s.start + 0.001)),
                               text=cue_text(s))
                for s in transcript.segments if cue_text(s)]
    return str(webvtt.WebVTT(captions=captions).content)


def render(transcript: Transcript, fmt: ResponseFormat, *, with_words: bool, model: str) -> Response:
    """The HTTP response for one transcript in the requested format."""
    if fmt in ("json", "verbose_json"):
        return jsonify(transcript_json(transcript, verbose=fmt == "verbose_json", with_words=with_words,
                                       model=model))
    text = {"text": lambda t: t.text + "\n", "srt": to_srt, "vtt": to_vtt}[fmt](transcript)
    return Response(text, status=200, content_type=CONTENT_TYPES[fmt])
