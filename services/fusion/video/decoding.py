"""Video bytes -> sampled frames and the 16 kHz mono audio track, with PyAV (FFmpeg in-process, no shell-out).

Limits are checked twice: from the container's header before anything is decoded (declared duration,
resolution, frame count), and again while decoding (a header that understates its duration or size cannot make
the service decode more than the limits allow). Anything that is not a readable, complete video of an accepted
container becomes a 4xx with a stable code (``invalid_video``, ``unsupported_video_format``, ``no_video_stream``,
``truncated_video``, ``corrupt_video``, ``video_too_long``, ``video_resolution_too_large``,
``video_too_many_frames``), never a 5xx.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from servekit.avmedia import declared_duration
from servekit.errors import ApiError, InvalidInput, PayloadTooLarge

if TYPE_CHECKING:
    import av
    from av.container import InputContainer

# FFmpeg demuxer names of the accepted containers: mp4 / mov (one demuxer) and matroska / webm (one demuxer).
ACCEPTED_FORMATS = frozenset({"mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm"})
AUDIO_RATE = 16_000
# A decoded stream this much shorter than its container declares was cut off.
TRUNCATION_TOLERANCE_S = 1.0
TRUNCATION_TOLERANCE_RATIO = 0.1
# Decoding stops past the duration limit plus this much (timestamps of the last frames may overshoot a little).
DURATION_SLACK_S = 1.0
# Scene changes are measured on small grey thumbnails: cheap, and blind to noise.
THUMB_SIZE = 32
FRAME_JPEG_QUALITY = 90


@dataclass(frozen=True)
class VideoLimits:
    """What one video may be; every limit has its own 4xx code."""

    max_duration_s: float
    max_width: int
    max_height: int
    max_frames: int
    max_decoded_frames: int


@dataclass(frozen=True)
class Sampling:
    """Which decoded frames are kept: one every ``1 / frame_rate`` seconds, plus each scene change (mean absolute
    difference of consecutive grey thumbnails, 0-1, above ``scene_threshold``; 0 turns scene detection off)."""

    frame_rate: float
    scene_threshold: float
    max_side: int


@dataclass(frozen=True)
class VideoHeader:
    format: str
    duration_s: float | None
    width: int
    height: int
    has_audio: bool


@dataclass(frozen=True)
class SampledFrame:
    """One kept frame: its time in seconds, JPEG bytes (downscaled to ``max_side``), and why it was kept."""

    t: float
    jpeg: bytes
    scene_change: bool


@dataclass(frozen=True)
class DecodedVideo:
    header: VideoHeader
    duration_s: float
    frames: list[SampledFrame]


def _invalid(message: str, code: str, param: str) -> InvalidInput:
    return InvalidInput(message, param=param, code=code)


def open_container(path: Path, param: str) -> InputContainer:
    """Open ``path`` as a media container; 400 ``invalid_video`` for what FFmpeg cannot read at all."""
    import av

    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, OSError, EOFError):
        raise _invalid("file is not a readable video", "invalid_video", param) from None


def _too_long(limits: VideoLimits, param: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"video is longer than {limits.max_duration_s:g} s", param=param, code="video_too_long")


def _check_size(width: int, height: int, limits: VideoLimits, param: str) -> None:
    if width < 1 or height < 1:
        raise _invalid("video stream declares no picture size", "invalid_video", param)
    if width > limits.max_width or height > limits.max_height:
        raise PayloadTooLarge(f"video is {width}x{height}; at most {limits.max_width}x{limits.max_height} is "
                              "accepted", param=param, code="video_resolution_too_large")


def check_header(container: InputContainer, limits: VideoLimits, param: str) -> VideoHeader:
    """The container's own claims, checked before any frame is decoded."""
    names = set(container.format.name.split(","))
    if not names & ACCEPTED_FORMATS:
        raise _invalid(f"container {container.format.name!r} is not a video format accepted here (mp4, mov, mkv, "
                       "webm)", "unsupported_video_format", param)
    streams = list(container.streams.video)
    if not streams:
        raise _invalid("file contains no video stream", "no_video_stream", param)
    stream = streams[0]
    context = stream.codec_context
    _check_size(int(context.width or 0), int(context.height or 0), limits, param)
    duration = declared_duration(container, stream)
    if duration is not None and duration > limits.max_duration_s:
        raise _too_long(limits, param)
    if stream.frames and stream.frames > limits.max_decoded_frames:
        raise PayloadTooLarge(f"video declares {stream.frames} frames; at most {limits.max_decoded_frames} are "
                              "decoded", param=param, code="video_too_many_frames")
    return VideoHeader(container.format.name, duration, int(context.width), int(context.height),
                       bool(container.streams.audio))


def _check_complete(declared: float | None, found: float, param: str) -> None:
    """400 ``truncated_video`` when the frames end well before the declared duration."""
    if declared is not None and declared - found > max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_RATIO * declared):
        raise _invalid(f"video is truncated: frames up to {found:.2f} s of {declared:.2f} s declared",
                       "truncated_video", param)


def _thumbnail(frame: av.VideoFrame) -> np.ndarray:
    array: np.ndarray = frame.reformat(width=THUMB_SIZE, height=THUMB_SIZE, format="gray").to_ndarray()
    return array.astype(np.float32) / 255.0


def _jpeg(frame: av.VideoFrame, max_side: int) -> bytes:
    from PIL import Image

    image = Image.fromarray(frame.to_ndarray(format="rgb24"))
    image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=FRAME_JPEG_QUALITY)
    return buffer.getvalue()


class FrameSampler:
    """Decides, frame by frame, which decoded frames are kept."""

    def __init__(self, sampling: Sampling, limits: VideoLimits, param: str) -> None:
        self.sampling = sampling
        self.limits = limits
        self.param = param
        self.kept: list[SampledFrame] = []
        self._next_t = 0.0
        self._previous: np.ndarray | None = None

    def offer(self, frame: av.VideoFrame, t: float) -> None:
        thumb = _thumbnail(frame) if self.sampling.scene_threshold > 0 else None
        change = (thumb is not None and self._previous is not None
                  and float(np.abs(thumb - self._previous).mean()) > self.sampling.scene_threshold)
        self._previous = thumb
        due = t + 1e-6 >= self._next_t
        if not (due or change):
            return
        if len(self.kept) >= self.limits.max_frames:
            raise PayloadTooLarge(f"video gives more than {self.limits.max_frames} sampled frames", param=self.param,
                                  code="video_too_many_frames")
        self.kept.append(SampledFrame(round(t, 3), _jpeg(frame, self.sampling.max_side), change))
        if due:
            self._next_t = t + 1.0 / self.sampling.frame_rate


def _check_progress(frames: int, t: float, limits: VideoLimits, param: str) -> None:
    """Refuse a stream as soon as it has given more frames or seconds than the limits allow, whatever its header
    declared (a header can understate both)."""
    if frames > limits.max_decoded_frames:
        raise PayloadTooLarge(f"video has more than {limits.max_decoded_frames} frames", param=param,
                              code="video_too_many_frames")
    if t > limits.max_duration_s + DURATION_SLACK_S:
        raise _too_long(limits, param)


def _frames(container: InputContainer, stream: av.VideoStream) -> Iterator[tuple[av.VideoFrame, float]]:
    start = float(stream.start_time * stream.time_base) if stream.start_time and stream.time_base else 0.0
    for frame in container.decode(stream):
        t = float(frame.time) - start if frame.time is not None else 0.0
        yield frame, max(0.0, t)


def decode_video(path: Path, limits: VideoLimits, sampling: Sampling, param: str = "file") -> DecodedVideo:
    """Check the header, then decode every frame once, keeping the sampled ones; 4xx for bad or over-limit video."""
    import av

    with open_container(path, param) as container:
        header = check_header(container, limits, param)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        sampler = FrameSampler(sampling, limits, param)
        decoded, last_t = 0, 0.0
        try:
            for frame, t in _frames(container, stream):
                decoded += 1
                _check_progress(decoded, t, limits, param)
                _check_size(frame.width, frame.height, limits, param)
                sampler.offer(frame, t)
                last_t = max(last_t, t)
        except ApiError:
            raise
        except (av.FFmpegError, ValueError, EOFError, MemoryError):
            raise _invalid("video data is corrupt or truncated", "corrupt_video", param) from None
    if not sampler.kept:
        raise _invalid("video contains no decodable frame", "corrupt_video", param)
    frame_step = 1.0 / float(stream.average_rate) if stream.average_rate else 0.0
    duration = last_t + frame_step
    _check_complete(header.duration_s, duration, param)
    return DecodedVideo(header, duration, sampler.kept)


def decode_audio_track(path: Path, max_duration_s: float, param: str = "file") -> np.ndarray | None:
    """The first audio track as float32 mono samples at 16 kHz (PyAV's resampler); None when there is none.

    A track that cannot be decoded is 400 ``corrupt_video``; past the duration limit, 413 ``video_too_long``."""
    import av

    with open_container(path, param) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        limit = int((max_duration_s + DURATION_SLACK_S) * AUDIO_RATE)
        chunks: list[np.ndarray] = []
        total = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1).astype(np.float32)
                    total += len(chunk)
                    if total > limit:
                        raise PayloadTooLarge(f"video is longer than {max_duration_s:g} s", param=param,
                                              code="video_too_long")
                    chunks.append(chunk)
            chunks.extend(out.to_ndarray().reshape(-1).astype(np.float32) for out in resampler.resample(None))
        except ApiError:
            raise
        except (av.FFmpegError, ValueError, EOFError):
            raise _invalid("the video's audio track is corrupt or truncated", "corrupt_video", param) from None
    if not chunks:
        return None
    return np.asarray(np.clip(np.concatenate(chunks), -1.0, 1.0), dtype=np.float32)


def probe(path: Path, limits: VideoLimits, param: str = "file") -> VideoHeader:
    """The header checks plus one pass over the packets (no decoding): cheap enough for the upload request, and
    it finds containers cut off before their declared end."""
    import av

    with open_container(path, param) as container:
        header = check_header(container, limits, param)
        stream = container.streams.video[0]
        last, packets = 0.0, 0
        try:
            for packet in container.demux(stream):
                if packet.pts is not None and packet.time_base is not None:
                    last = max(last, float(packet.pts * packet.time_base))
                    packets += 1
                _check_progress(packets, last, limits, param)
        except ApiError:
            raise
        except (av.FFmpegError, ValueError, EOFError):
            raise _invalid("video data is corrupt or truncated", "corrupt_video", param) from None
    if packets == 0:
        raise _invalid("video stream holds no frames", "corrupt_video", param)
    _check_complete(header.duration_s, last, param)
    return header
