"""A decoded video cut into time-aligned segments, and what each segment holds: the frames sampled in it, the
transcript text overlapping it, and its vectors (the mean of its frames' vectors per space, its transcript's).

A segment is stored as one item of the collection, id ``<video_id>#<start_ms>``, metadata ``video_id``,
``start_s``, ``end_s`` and ``kind: video_segment``, so every query modality and strategy finds it like any item.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.fusion.features import Extraction
from services.fusion.filters import compile_filter
from services.fusion.store import ItemRecord, MilvusStore, VectorRow
from services.fusion.strategies import normalise
from services.fusion.video.decoding import SampledFrame

KIND = "video_segment"
ID_SEPARATOR = "#"


@dataclass(frozen=True)
class TranscriptPiece:
    """One transcript segment of the audio service's verbose_json answer, in video seconds."""

    start: float
    end: float
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text}


@dataclass(frozen=True)
class SegmentPlan:
    """One time range of the video and the indices of the sampled frames inside it."""

    start_s: float
    end_s: float
    frames: tuple[int, ...]

    @property
    def start_ms(self) -> int:
        return int(round(self.start_s * 1000))

    def item_id(self, video_id: str) -> str:
        return f"{video_id}{ID_SEPARATOR}{self.start_ms}"


def boundaries(frames: Sequence[SampledFrame], duration_s: float, segment_s: float) -> list[float]:
    """Segment starts: 0, every scene change, and enough evenly spaced cuts that no segment exceeds
    ``segment_s``; the last value is the end of the video."""
    cuts = sorted({0.0, *(f.t for f in frames if f.scene_change and 0 < f.t < duration_s)})
    points: list[float] = []
    for start, end in zip(cuts, [*cuts[1:], duration_s], strict=True):
        pieces = max(1, math.ceil((end - start) / segment_s - 1e-9))
        points.extend(start + (end - start) * k / pieces for k in range(pieces))
    return [*points, duration_s]


def plan_segments(frames: Sequence[SampledFrame], duration_s: float, segment_s: float) -> list[SegmentPlan]:
    """The video's segments in time order, each with the frames sampled in it."""
    points = boundaries(frames, duration_s, segment_s)
    plans = []
    for start, end in zip(points, points[1:], strict=False):
        inside = tuple(i for i, f in enumerate(frames) if start - 1e-6 <= f.t < end - 1e-6)
        plans.append(SegmentPlan(round(start, 3), round(end, 3), inside))
    return plans


def overlapping(pieces: Sequence[TranscriptPiece], start: float, end: float) -> list[TranscriptPiece]:
    """The transcript segments that overlap ``[start, end)`` (one spanning a cut belongs to both sides)."""
    return [p for p in pieces if p.text.strip() and p.start < end and p.end > start]


def transcript_text(pieces: Sequence[TranscriptPiece]) -> str:
    return " ".join(p.text.strip() for p in pieces).strip()


@dataclass
class SegmentEvidence:
    """What one segment holds before it is stored."""

    plan: SegmentPlan
    frames: list[tuple[SampledFrame, Extraction]]
    transcript: list[TranscriptPiece]
    text: Extraction | None
    clip: Extraction | None
    skipped: list[dict[str, Any]]


def mean_features(extractions: Sequence[Extraction], modality: str) -> dict[str, np.ndarray]:
    """Per space, the unit mean of the extractions' vectors of ``modality`` (a segment's frames as one view)."""
    by_space: dict[str, list[np.ndarray]] = {}
    for extraction in extractions:
        for space, vector in extraction.features.get(modality, {}).items():
            by_space.setdefault(space, []).append(vector)
    return {space: normalise(np.mean(vectors, axis=0)) for space, vectors in by_space.items()}


def combined(evidence: SegmentEvidence) -> Extraction:
    """One extraction for the whole segment: frames averaged, transcript and clip as they are."""
    frames = [extraction for _, extraction in evidence.frames]
    merged = Extraction(skipped=list(evidence.skipped))
    image = mean_features(frames, "image")
    if image:
        merged.features["image"] = image
    texts = list(dict.fromkeys(e.derived["image"] for e in frames if e.derived.get("image")))
    if texts:
        merged.derived["image"] = " | ".join(texts)
    sources = [*frames, *(e for e in (evidence.text, evidence.clip) if e is not None)]
    for source in sources:
        merged.skipped.extend(source.skipped)
        for path in source.paths:
            if path not in merged.paths:
                merged.paths.append(path)
    for extra in (evidence.text, evidence.clip):
        if extra is not None:
            merged.features.update(extra.features)
            merged.derived.update(extra.derived)
    return merged


def segment_metadata(video_id: str, plan: SegmentPlan, metadata: dict[str, Any]) -> dict[str, Any]:
    return {**metadata, "video_id": video_id, "start_s": plan.start_s, "end_s": plan.end_s, "kind": KIND}


def segment_record(video_id: str, metadata: dict[str, Any], evidence: SegmentEvidence,
                   extraction: Extraction) -> ItemRecord:
    """The stored item of a segment: its transcript as text, its bridges, and its evidence in time."""
    text = transcript_text(evidence.transcript) or None
    content = {
        "text": text,
        "modalities": sorted(extraction.features),
        "derived": extraction.derived,
        "paths": extraction.paths,
        "skipped": extraction.skipped,
        "updated": int(time.time()),
        "video": {
            "video_id": video_id, "start_s": evidence.plan.start_s, "end_s": evidence.plan.end_s,
            "frames": [{"t": frame.t, "scene_change": frame.scene_change, "text": e.derived.get("image")}
                       for frame, e in evidence.frames],
            "transcript": [piece.to_json() for piece in evidence.transcript],
        },
    }
    return ItemRecord(evidence.plan.item_id(video_id), segment_metadata(video_id, evidence.plan, metadata), content)


def segment_rows(item_id: str, extraction: Extraction) -> list[VectorRow]:
    return [VectorRow(item_id, modality, space, vector)
            for modality, spaces in extraction.features.items() for space, vector in spaces.items()]


def describe_segment(record: ItemRecord) -> dict[str, Any] | None:
    """What a search hit or a listing says of a segment: the video, the time range, the evidence."""
    video = record.content.get("video")
    if not isinstance(video, dict):
        return None
    return {"video_id": video.get("video_id"), "start_s": video.get("start_s"), "end_s": video.get("end_s"),
            "evidence": {"frames": video.get("frames", []), "transcript": video.get("transcript", [])}}


def group_by_video(entries: Sequence[dict[str, Any]], top_k: int, group_size: int) -> list[dict[str, Any]]:
    """Search entries (best first) as one entry per video with its best ``group_size`` segments; an item that is
    not a segment stays an entry of its own. At most ``top_k`` groups, best first."""
    groups: dict[str, dict[str, Any]] = {}
    for entry in entries:
        video = entry.get("video")
        key = f"video:{video['video_id']}" if isinstance(video, dict) else f"item:{entry['id']}"
        group = groups.get(key)
        if group is None:
            if len(groups) >= top_k:
                continue
            group = groups[key] = ({"object": "video", "video_id": video["video_id"], "score": entry["score"],
                                    "segments": []} if isinstance(video, dict) else {"object": "item", **entry})
        if isinstance(video, dict) and len(group["segments"]) < group_size:
            group["segments"].append(entry)
    return list(groups.values())


def find_segments(store: MilvusStore, collection: str, video_id: str) -> dict[str, ItemRecord]:
    """The stored segments of one video (by their ``video_id`` metadata)."""
    return store.find(collection, compile_filter({"video_id": video_id}, indexed=store.indexed(collection)))
