"""Real videos synthesized for tests with PyAV's own encoders: scenes of scikit-image photos, espeak-ng speech
placed at known seconds, in mp4 (H.264 + AAC), mov, mkv and webm (VP9 + Opus); and the bad videos a video intake
must refuse (truncated, no video stream, a lying header, an image renamed .mp4, random bytes, a header bomb)."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import TYPE_CHECKING, cast

import numpy as np
from PIL import Image

from tests.support.media import encode_audio, photo_png, resample, synthesize

if TYPE_CHECKING:
    import av
    import av.container

# format -> (container, video codec, audio codec, audio rate, MIME type)
VIDEO_FORMATS: dict[str, tuple[str, str, str, int, str]] = {
    "mp4": ("mp4", "libx264", "aac", 44100, "video/mp4"),
    "mov": ("mov", "libx264", "aac", 44100, "video/quicktime"),
    "mkv": ("matroska", "libx264", "aac", 44100, "video/x-matroska"),
    "webm": ("webm", "libvpx-vp9", "libopus", 48000, "video/webm"),
}


@dataclass(frozen=True)
class Scene:
    """``photo`` (a scikit-image name) shown for ``seconds``."""

    photo: str
    seconds: float


@dataclass(frozen=True)
class Line:
    """``text`` spoken by espeak-ng starting at ``start_s``."""

    text: str
    start_s: float


@dataclass(frozen=True)
class VideoSpec:
    scenes: tuple[Scene, ...]
    lines: tuple[Line, ...] = ()
    size: tuple[int, int] = (320, 240)
    fps: int = 10
    fmt: str = "mp4"

    @property
    def duration_s(self) -> float:
        return sum(scene.seconds for scene in self.scenes)

    def scene_at(self, t: float) -> str:
        position = 0.0
        for scene in self.scenes:
            if position <= t < position + scene.seconds:
                return scene.photo
            position += scene.seconds
        return self.scenes[-1].photo


def _picture(photo: str, size: tuple[int, int]) -> np.ndarray:
    image = Image.open(io.BytesIO(photo_png(photo))).convert("RGB").resize(size)
    return np.asarray(image)


def _soundtrack(spec: VideoSpec, rate: int) -> np.ndarray:
    track = np.zeros(int(spec.duration_s * rate), dtype=np.float32)
    for line in spec.lines:
        speech = synthesize(line.text)
        samples = resample(speech.samples, speech.sample_rate, rate)
        start = int(line.start_s * rate)
        end = min(len(track), start + len(samples))
        track[start:end] += samples[:end - start]
    return track


@cache
def make_video(spec: VideoSpec) -> bytes:
    """Encode ``spec``: every frame a photo of its scene, the speech on an audio track (none without lines)."""
    import av

    container_name, video_codec, audio_codec, rate, _ = VIDEO_FORMATS[spec.fmt]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_name) as out:
        video = cast("av.VideoStream", out.add_stream(video_codec, rate=spec.fps))
        video.width, video.height = spec.size
        video.pix_fmt = "yuv420p"
        audio = None
        if spec.lines:
            audio = cast("av.AudioStream", out.add_stream(audio_codec, rate=rate, layout="mono"))
        pictures = {scene.photo: _picture(scene.photo, spec.size) for scene in spec.scenes}
        for index in range(int(round(spec.duration_s * spec.fps))):
            frame = av.VideoFrame.from_ndarray(pictures[spec.scene_at(index / spec.fps)], format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, spec.fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if audio is not None:
            _encode_track(out, audio, _soundtrack(spec, rate), rate)
    return buffer.getvalue()


def _encode_track(out: av.container.OutputContainer, stream: av.AudioStream, track: np.ndarray, rate: int) -> None:
    import av

    pcm = (np.clip(track, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate,
                                  frame_size=stream.codec_context.frame_size or None)
    for resampled in resampler.resample(frame) + resampler.resample(None):
        for packet in stream.encode(resampled):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


# -- bad videos ----------------------------------------------------------------------------------------------
def short_video(fmt: str = "mp4", size: tuple[int, int] = (160, 120), seconds: float = 3.0) -> bytes:
    return make_video(VideoSpec((Scene("coffee", seconds),), size=size, fmt=fmt))


def truncated_video() -> bytes:
    """A Matroska video cut at two thirds: its header declares the whole duration, part of the frames are there."""
    scenes = tuple(Scene(photo, 1.5) for photo in ("coffee", "chelsea", "astronaut", "rocket") * 2)
    data = make_video(VideoSpec(scenes, size=(160, 120), fmt="mkv"))
    return data[: len(data) * 2 // 3]


def audio_only_mp4() -> bytes:
    """An mp4 (m4a) holding speech and no video stream."""
    speech = synthesize("There is no picture in this file.")
    return encode_audio(speech.samples, speech.sample_rate, "m4a")


def _ebml_float(element_id: bytes, value: float) -> bytes:
    return element_id + b"\x88" + struct.pack(">d", value)


def lying_duration_mkv(hours: float = 10.0, data: bytes | None = None) -> bytes:
    """A real Matroska video (``data``, default 3 s) whose header declares ``hours`` hours (the Duration element
    rewritten)."""
    data = bytearray(data or short_video("mkv"))
    index = data.find(b"\x44\x89\x88")  # Duration, an 8-byte float (milliseconds with the default timecode scale)
    if index < 0:
        raise RuntimeError("no 8-byte Duration element found in the Matroska header")
    data[index:index + 11] = _ebml_float(b"\x44\x89", hours * 3600 * 1000.0)
    return bytes(data)


def header_bomb_mkv(side: int = 16_000, frames: int = 2) -> bytes:
    """A small Matroska file of raw 256x256 grey frames whose track header declares ``side x side`` pixels
    (PixelWidth / PixelHeight rewritten in place): a decoder that believed it would allocate 256 Mpixels a frame."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as out:
        stream = cast("av.VideoStream", out.add_stream("rawvideo", rate=5))
        stream.width, stream.height, stream.pix_fmt = 256, 256, "gray"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((256, 256), index * 60, np.uint8), format="gray")
            frame.pts, frame.time_base = index, Fraction(1, 5)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    data = bytearray(buffer.getvalue())
    for element_id in (b"\xb0", b"\xba"):  # PixelWidth, PixelHeight: two-byte unsigned integers
        index = data.find(element_id + b"\x82" + struct.pack(">H", 256))
        if index < 0:
            raise RuntimeError("picture size elements not found in the Matroska header")
        data[index:index + 4] = element_id + b"\x82" + struct.pack(">H", side)
    return bytes(data)


def image_renamed_mp4() -> bytes:
    """A PNG photo, as a client would send a file renamed ``.mp4``."""
    return photo_png("chelsea", 128)


def random_bytes(size: int = 64 * 1024) -> bytes:
    return np.random.default_rng(7).integers(0, 256, size, dtype=np.uint8).tobytes()


def bad_video_corpus() -> dict[str, tuple[bytes, int, str]]:
    """name -> (bytes, expected status, expected error code), for default limits."""
    return {
        "truncated": (truncated_video(), 400, "truncated_video"),
        "no_video_stream": (audio_only_mp4(), 400, "no_video_stream"),
        "ten_hour_header": (lying_duration_mkv(), 413, "video_too_long"),
        "image_renamed_mp4": (image_renamed_mp4(), 400, "unsupported_video_format"),
        "random_bytes": (random_bytes(), 400, "invalid_video"),
        "header_bomb": (header_bomb_mkv(), 413, "video_resolution_too_large"),
        "empty": (b"", 400, "empty_input"),
    }
