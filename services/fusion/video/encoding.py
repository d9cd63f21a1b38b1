"""A video's frames and audio track through the encoder services, with the fusion service's own machinery:
the audio track is transcribed window by window (verbose_json segments, all windows at once through the fan-out),
and each batch of segments goes through the feature extractor in one call, so that every frame's image paths
(embedding; labels, OCR, caption where the image space needs bridging) and every transcript's text vectors fan
out together, as the items of a bulk ingest do."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from servekit import protocol
from servekit.client import CallContext
from servekit.errors import ApiError
from servekit.fanout import fan_out
from services.fusion.encoders import modality_unavailable
from services.fusion.features import Extraction
from services.fusion.inputs import Inputs
from services.fusion.runtime import FusionRuntime
from services.fusion.video.decoding import AUDIO_RATE, SampledFrame
from services.fusion.video.segments import (
    SegmentEvidence,
    SegmentPlan,
    TranscriptPiece,
    combined,
    overlapping,
    segment_record,
    segment_rows,
    transcript_text,
)


def wav_bytes(samples: np.ndarray, rate: int = AUDIO_RATE) -> bytes:
    """16-bit mono WAV of float samples (the standard library writes it)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    """Media as the encoders' JSON bodies take it."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _pieces(answer: Any, offset_s: float) -> list[TranscriptPiece]:
    segments = answer.get("segments") if isinstance(answer, dict) else None
    return [TranscriptPiece(offset_s + float(s["start"]), offset_s + float(s["end"]), str(s.get("text") or "").strip())
            for s in segments or [] if str(s.get("text") or "").strip()]


def transcribe_track(rt: FusionRuntime, samples: np.ndarray, context: CallContext,
                     timeout_s: float) -> list[TranscriptPiece]:
    """The track's transcript segments in video seconds; windows of ``video_transcribe_chunk_s`` transcribed in
    parallel, as an asynchronous job of the audio service (its longer limits apply)."""
    model = rt.encoders.model_for("audio", "transcribe", context)
    if model is None:
        raise modality_unavailable("audio", ApiError("the audio service serves no transcription model"))
    window = int(rt.settings.video_transcribe_chunk_s * AUDIO_RATE)
    starts = list(range(0, len(samples), window))
    client = rt.encoders.clients["audio"]

    def call(start: int) -> Any:
        body = {"model": model.id, "audio": data_uri(wav_bytes(samples[start:start + window]), "audio/wav"),
                "response_format": "verbose_json"}
        return lambda ctx: client.post_json("/v1/transcribe", body, timeout_s=timeout_s, context=ctx,
                                            headers={protocol.ASYNC_JOB_HEADER: "1"})

    pieces: list[TranscriptPiece] = []
    for start, answer in zip(starts, fan_out(rt.executor, [call(s) for s in starts]), strict=True):
        if isinstance(answer, ApiError):
            raise modality_unavailable("audio", answer) if answer.status >= 500 else answer
        if isinstance(answer, Exception):
            raise modality_unavailable("audio", ApiError("the transcription call failed"))
        pieces.extend(_pieces(answer, start / AUDIO_RATE))
    return pieces


@dataclass(frozen=True)
class VideoSource:
    """Everything decoded from one video that its segments are built from."""

    video_id: str
    metadata: dict[str, Any]
    frames: list[SampledFrame]
    transcript: list[TranscriptPiece]
    samples: np.ndarray | None


def _segment_inputs(source: VideoSource, plan: SegmentPlan, clips: bool) -> list[tuple[str, Inputs]]:
    """(role, inputs) of one segment: each frame, the transcript text, the audio clip."""
    inputs = [("frame", Inputs(image=data_uri(source.frames[i].jpeg, "image/jpeg"))) for i in plan.frames]
    text = transcript_text(overlapping(source.transcript, plan.start_s, plan.end_s))
    if text:
        inputs.append(("text", Inputs(text=text)))
    if clips and source.samples is not None:
        clip = source.samples[int(plan.start_s * AUDIO_RATE):int(plan.end_s * AUDIO_RATE)]
        if len(clip) >= AUDIO_RATE // 10:
            inputs.append(("clip", Inputs(audio=data_uri(wav_bytes(clip), "audio/wav"))))
    return inputs


def _evidence(source: VideoSource, plan: SegmentPlan, roles: list[str],
              results: Sequence[Extraction | ApiError], allow_degraded: bool) -> SegmentEvidence:
    """A segment's evidence from its extractions; a failed input fails the segment, unless degradation is
    allowed and the failure is the service's (then the input is left out and said so)."""
    evidence = SegmentEvidence(plan, [], overlapping(source.transcript, plan.start_s, plan.end_s), None, None, [])
    frames = iter(plan.frames)
    for role, result in zip(roles, results, strict=True):
        frame = source.frames[next(frames)] if role == "frame" else None
        if isinstance(result, ApiError):
            if result.status < 500 or not allow_degraded:
                raise result
            evidence.skipped.append({"modality": "image" if frame else role, "code": result.code,
                                     "message": result.message, **({"t": frame.t} if frame else {})})
        elif frame is not None:
            evidence.frames.append((frame, result))
        elif role == "text":
            evidence.text = result
        else:
            evidence.clip = result
    return evidence


def encode_segments(rt: FusionRuntime, collection: str, source: VideoSource, plans: Sequence[SegmentPlan],
                    allow_degraded: bool) -> int:
    """Encode and store a batch of segments (upserts by id: running it twice is harmless); the number stored
    (a segment with neither frames nor speech has nothing to store)."""
    per_segment = [_segment_inputs(source, plan, rt.settings.video_audio_clips) for plan in plans]
    flat = [inputs for entries in per_segment for _, inputs in entries]
    results = rt.extractor.extract(flat, allow_degraded=allow_degraded, want_spaces=set(rt.store.spaces(collection)))
    records, rows, position = [], [], 0
    for plan, entries in zip(plans, per_segment, strict=True):
        mine = results[position:position + len(entries)]
        position += len(entries)
        evidence = _evidence(source, plan, [role for role, _ in entries], mine, allow_degraded)
        extraction = combined(evidence)
        if not extraction.features:
            continue
        record = segment_record(source.video_id, source.metadata, evidence, extraction)
        records.append(record)
        rows.extend(segment_rows(record.id, extraction))
    if records:
        rt.store.upsert(collection, records, rows)
    return len(records)
