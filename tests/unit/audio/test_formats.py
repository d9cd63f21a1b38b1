"""Transcript rendering: json / verbose_json / text / srt / vtt, subtitles checked with real parsers."""

from __future__ import annotations

import srt
import webvtt

from services.audio.formats import to_srt, to_vtt, transcript_json
from services.audio.items import Segment, Transcript, Word

TRANSCRIPT = Transcript(language="en", duration=3725.5, segments=[
    Segment(0, 0.0, 2.5, " Hello there.", words=[Word(0.0, 0.4, " Hello", 0.9), Word(0.5, 1.0, " there.", 0.8)]),
    Segment(1, 2.5, 2.5, " Instant."),
    Segment(2, 3, 4, "   "),
    Segment(3, 3723.25, 3725.125, " An hour later, with a comma,\n\nand --> an arrow."),
])


def test_srt_parses_with_times_and_text() -> None:
    subtitles = list(srt.parse(to_srt(TRANSCRIPT)))
    # Line breaks and "-->" would end a cue early: they are flattened.
    assert [s.content for s in subtitles] == ["Hello there.", "Instant.",
                                              "An hour later, with a comma, and -> an arrow."]
    assert subtitles[0].end.total_seconds() == 2.5
    assert subtitles[1].end > subtitles[1].start  # zero-length cues are stretched to stay valid
    assert subtitles[2].start.total_seconds() == 3723.25 and subtitles[2].end.total_seconds() == 3725.125


def test_vtt_parses_with_times_and_text() -> None:
    captions = webvtt.from_string(to_vtt(TRANSCRIPT)).captions
    assert [c.text for c in captions][0] == "Hello there."
    assert captions[-1].start == "01:02:03.250" and captions[-1].end == "01:02:05.125"
    assert len(captions) == 3


def test_empty_transcript_renders_empty_but_valid() -> None:
    empty = Transcript(language="en", duration=10.0, segments=[])
    assert list(srt.parse(to_srt(empty))) == []
    assert webvtt.from_string(to_vtt(empty)).captions == []
    assert transcript_json(empty, verbose=False, with_words=False, model="m") == {
        "text": "", "language": "en", "duration": 10.0, "segments": []}


def test_json_includes_words_only_when_asked() -> None:
    plain = transcript_json(TRANSCRIPT, verbose=False, with_words=False, model="m")
    assert plain["text"] == "Hello there. Instant. An hour later, with a comma,\n\nand --> an arrow."
    assert "words" not in plain["segments"][0]
    verbose = transcript_json(TRANSCRIPT, verbose=True, with_words=True, model="m")
    assert verbose["task"] == "transcribe" and [w["word"] for w in verbose["words"]] == [" Hello", " there."]
    assert verbose["segments"][0]["words"][1] == {"word": " there.", "start": 0.5, "end": 1.0, "probability": 0.8}
