"""Audio bytes -> mono float32 samples at the model's rate, through FFmpeg (PyAV) and the soxr resampler.

Every container and codec FFmpeg reads is accepted (wav, flac, mp3, ogg/opus, m4a/aac, webm, ...). Channels
are averaged to mono while decoding, and soxr resamples as a stream, so memory follows the model's rate.
Anything that is not decodable audio becomes a clear 4xx naming the parameter, never a 5xx.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from servekit.avmedia import declared_duration
from servekit.errors import InvalidInput, PayloadTooLarge

if TYPE_CHECKING:
    import av

# A decoded stream this much shorter than its container declares was cut off (or its header lies).
TRUNCATION_TOLERANCE_S = 0.5
TRUNCATION_TOLERANCE_RATIO = 0.05

_INT_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


@dataclass(frozen=True)
class AudioLimits:
    """What one decoded recording may be; the duration limit names the 4xx code used above it."""

    max_duration_s: float
    min_sample_rate: int = 2000
    max_sample_rate: int = 768_000
    max_channels: int = 64
    too_long_code: str = "audio_too_long"
    too_long_hint: str = ""


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, at ``sample_rate``
    sample_rate: int
    source_rate: int
    channels: int
    codec: str

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)


def _bad(message: str, param: str, code: str) -> InvalidInput:
    return InvalidInput(message, param=param, code=code)


def frame_to_mono(frame: av.AudioFrame) -> np.ndarray:
    """One decoded frame (any sample format, planar or packed) -> mono float32 samples in [-1, 1]."""
    array = frame.to_ndarray()
    fmt = frame.format
    channels = max(1, len(frame.layout.channels))
    if not fmt.is_planar:
        array = array.reshape(-1, channels).T
    name = fmt.name.rstrip("p")
    data = array.astype(np.float32)
    if name == "u8":
        data = (data - 128.0) / 128.0
    elif name in _INT_SCALE:
        data = data / _INT_SCALE[name]
    mono: np.ndarray = data.mean(axis=0) if data.shape[0] > 1 else data[0]
    return mono


def _check_stream(stream: av.AudioStream, limits: AudioLimits, param: str) -> tuple[int, int]:
    context = stream.codec_context
    rate = int(context.sample_rate or 0)
    layout = getattr(context, "layout", None)
    channels = len(layout.channels) if layout is not None else 0
    if channels < 1:
        raise _bad("audio stream has no channels", param, "invalid_channels")
    if channels > limits.max_channels:
        raise _bad(f"audio has {channels} channels; at most {limits.max_channels} are accepted", param,
                   "too_many_channels")
    if not limits.min_sample_rate <= rate <= limits.max_sample_rate:
        raise _bad(f"sample rate {rate} Hz is outside {limits.min_sample_rate}-{limits.max_sample_rate} Hz",
                   param, "unsupported_sample_rate")
    return rate, channels


def _too_long(limits: AudioLimits, param: str) -> PayloadTooLarge:
    hint = f"; {limits.too_long_hint}" if limits.too_long_hint else ""
    return PayloadTooLarge(f"audio is longer than {limits.max_duration_s:g} s{hint}", param=param,
                           code=limits.too_long_code)


def decode_audio(data: bytes, *, target_rate: int, limits: AudioLimits, param: str = "file") -> DecodedAudio:
    """Decode, mix down and resample ``data``; 400 for anything that is not complete, decodable audio."""
    import av
    import soxr

    if not data:
        raise _bad("audio file is empty", param, "empty_input")
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, OSError):
        raise _bad("file is not a readable audio file", param, "invalid_audio") from None
    with container:
        streams = list(container.streams.audio)
        if not streams:
            raise _bad("file contains no audio stream", param, "no_audio_stream")
        stream = streams[0]
        rate, channels = _check_stream(stream, limits, param)
        resampler = soxr.ResampleStream(rate, target_rate, 1, dtype="float32", quality="HQ")
        max_source_samples = int(limits.max_duration_s * rate) + 1
        decoded, chunks = 0, []
        try:
            for frame in container.decode(stream):
                audio_frame = frame
                if audio_frame.sample_rate != rate:
                    raise _bad("sample rate changes inside the stream", param, "invalid_audio")
                mono = frame_to_mono(audio_frame)
                decoded += len(mono)
                if decoded > max_source_samples:
                    raise _too_long(limits, param)
                chunks.append(resampler.resample_chunk(mono, last=False))
        except (av.FFmpegError, ValueError, EOFError):
            raise _bad("audio data is corrupt or truncated", param, "corrupt_audio") from None
        chunks.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        declared = declared_duration(container, stream)
        codec = stream.codec_context.name
    if decoded == 0:
        raise _bad("file contains no audio samples", param, "empty_audio")
    actual = decoded / rate
    if declared is not None and declared - actual > max(TRUNCATION_TOLERANCE_S, TRUNCATION_TOLERANCE_RATIO * declared):
        raise _bad(f"audio is truncated: {actual:.2f} s decoded of {declared:.2f} s declared", param,
                   "truncated_audio")
    samples = np.clip(np.concatenate(chunks).astype(np.float32, copy=False), -1.0, 1.0)
    if not np.isfinite(samples).all():
        raise _bad("audio contains non-finite samples", param, "corrupt_audio")
    return DecodedAudio(samples=samples, sample_rate=target_rate, source_rate=rate, channels=channels, codec=codec)
