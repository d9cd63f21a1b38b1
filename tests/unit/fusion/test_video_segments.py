"""Segments of a video: where they are cut, which frames and transcript they hold, how their vectors are
combined, how search hits group per video; and the job state that a restart reads back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.fusion.encoders import Embedded
from services.fusion.features import Extraction
from services.fusion.video.decoding import SampledFrame
from services.fusion.video.jobs import JobFolder, VideoJob
from services.fusion.video.segments import (
    SegmentEvidence,
    SegmentPlan,
    TranscriptPiece,
    boundaries,
    combined,
    group_by_video,
    overlapping,
    plan_segments,
    segment_record,
)


def _frames(times: list[float], changes: tuple[float, ...] = ()) -> list[SampledFrame]:
    return [SampledFrame(t, b"jpeg", t in changes) for t in times]


def test_segments_end_at_scene_changes_and_are_never_longer_than_the_limit() -> None:
    frames = _frames([0, 1, 2, 2.5, 3, 4, 5, 6, 7, 8, 9, 10, 11], changes=(2.5,))
    assert boundaries(frames, 12.0, 5.0) == pytest.approx([0, 2.5, 2.5 + 9.5 / 2, 12.0])
    plans = plan_segments(frames, 12.0, 5.0)
    assert [(p.start_s, p.end_s) for p in plans] == [(0.0, 2.5), (2.5, 7.25), (7.25, 12.0)]
    assert [p.frames for p in plans] == [(0, 1, 2), (3, 4, 5, 6, 7, 8), (9, 10, 11, 12)]
    assert plans[1].item_id("clip") == "clip#2500"


def test_a_video_without_scene_changes_is_cut_evenly() -> None:
    plans = plan_segments(_frames([0, 1, 2, 3, 4, 5, 6]), 7.0, 5.0)
    assert [(p.start_s, p.end_s) for p in plans] == [(0.0, 3.5), (3.5, 7.0)]


def test_transcript_pieces_belong_to_every_segment_they_overlap() -> None:
    pieces = [TranscriptPiece(0.5, 2.0, "first"), TranscriptPiece(4.0, 6.0, "across"), TranscriptPiece(6, 7, " ")]
    assert [p.text for p in overlapping(pieces, 0, 5)] == ["first", "across"]
    assert [p.text for p in overlapping(pieces, 5, 10)] == ["across"]
    assert overlapping(pieces, 2.0, 4.0) == []


def _extraction(vector: list[float], text: str) -> Extraction:
    extraction = Extraction(derived={"image": text})
    extraction.add("image", Embedded(np.asarray(vector, dtype=np.float64), "img", "m"), "native")
    return extraction


def test_a_segment_holds_the_unit_mean_of_its_frames_and_its_evidence() -> None:
    frames = [(SampledFrame(0.0, b"", False), _extraction([1, 0], "espresso")),
              (SampledFrame(1.0, b"", False), _extraction([0, 1], "cup"))]
    text = Extraction()
    text.add("text", Embedded(np.asarray([0.0, 3.0, 4.0]), "txt", "minilm"), "direct")
    plan = SegmentPlan(0.0, 2.0, (0, 1))
    evidence = SegmentEvidence(plan, frames, [TranscriptPiece(0.2, 1.5, "hello there")], text, None, [])
    merged = combined(evidence)
    assert merged.features["image"]["img"] == pytest.approx([2 ** -0.5, 2 ** -0.5])
    assert merged.features["text"]["txt"] == pytest.approx([0, 0.6, 0.8])
    assert merged.derived["image"] == "espresso | cup"
    record = segment_record("clip", {"owner": "me", "kind": "mine"}, evidence, merged)
    assert record.id == "clip#0"
    assert record.metadata == {"owner": "me", "kind": "video_segment", "video_id": "clip", "start_s": 0.0,
                               "end_s": 2.0}
    assert record.content["text"] == "hello there"
    assert [f["t"] for f in record.content["video"]["frames"]] == [0.0, 1.0]


def _hit(item: str, video: str | None, score: float) -> dict[str, object]:
    entry: dict[str, object] = {"id": item, "score": score}
    if video:
        entry["video"] = {"video_id": video, "start_s": 0.0, "end_s": 1.0}
    return entry


def test_hits_group_per_video_best_first_with_their_best_segments() -> None:
    hits = [_hit("a#0", "a", 0.9), _hit("b#0", "b", 0.8), _hit("a#5000", "a", 0.7), _hit("note", None, 0.6),
            _hit("a#9000", "a", 0.5), _hit("c#0", "c", 0.4)]
    groups = group_by_video(hits, top_k=3, group_size=2)
    assert [(g.get("video_id") or g["id"]) for g in groups] == ["a", "b", "note"]
    assert [s["id"] for s in groups[0]["segments"]] == ["a#0", "a#5000"]
    assert groups[0]["score"] == 0.9 and groups[2]["object"] == "item"


def test_job_state_survives_a_restart_as_written(tmp_path: Path) -> None:
    folder = JobFolder(tmp_path, "job1")
    folder.path.mkdir()
    job = VideoJob("job1", "media", "clip", {"k": 1}, False, "a.mp4", status="running", segments_total=4,
                   segments_done=[0, 5000])
    folder.save(job)
    folder.save_transcript([TranscriptPiece(1.0, 2.0, "hi")])
    assert folder.load() == job
    assert folder.transcript() == [TranscriptPiece(1.0, 2.0, "hi")]
    assert folder.load().describe()["progress"] == 0.5
