"""Real speech for audio tests: espeak-ng speaks known sentences, PyAV encodes them in real formats.

espeak-ng is a system package (``make system-deps`` installs it); tests that need it fail loudly without it.
"""

from __future__ import annotations

import functools
import io
import shutil
import struct
import subprocess
from dataclasses import dataclass
from typing import cast

import numpy as np
from flask import Flask

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "The weather today is sunny with a gentle breeze from the west.",
    "She sells sea shells by the sea shore every summer morning.",
    "A large language model can answer questions about many different topics.",
    "We will meet at the train station at seven o'clock tomorrow evening.",
)

# format -> (container, codec, sample rate used for encoding, file suffix, MIME type)
FORMATS: dict[str, tuple[str, str, int, str, str]] = {
    "wav": ("wav", "pcm_s16le", 22050, ".wav", "audio/wav"),
    "flac": ("flac", "flac", 22050, ".flac", "audio/flac"),
    "mp3": ("mp3", "libmp3lame", 22050, ".mp3", "audio/mpeg"),
    "ogg": ("ogg", "libopus", 48000, ".ogg", "audio/ogg"),
    "m4a": ("ipod", "aac", 44100, ".m4a", "audio/mp4"),
    "webm": ("webm", "libopus", 48000, ".webm", "audio/webm"),
}


@dataclass(frozen=True)
class Speech:
    text: str
    samples: np.ndarray  # float32 mono
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def espeak_path() -> str:
    path = shutil.which("espeak-ng")
    if path is None:
        raise RuntimeError("espeak-ng is not installed: run `make system-deps` (apt-get install espeak-ng)")
    return path


@functools.cache
def synthesize(text: str, *, voice: str = "en-us", words_per_minute: int = 150) -> Speech:
    """espeak-ng speaks ``text``; its 22.05 kHz 16-bit WAV is read back as float samples."""
    wav = subprocess.run([espeak_path(), "-v", voice, "-s", str(words_per_minute), "--stdout", text],
                         check=True, capture_output=True).stdout
    samples, rate = read_wav(wav)
    return Speech(text=text, samples=samples, sample_rate=rate)


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    import soundfile

    # espeak-ng writes a streaming header (sizes 0x7fffffff); soundfile reads to the real end.
    samples, rate = soundfile.read(io.BytesIO(_fix_stream_header(data)), dtype="float32", always_2d=False)
    return np.asarray(samples, dtype=np.float32), int(rate)


def _fix_stream_header(data: bytes) -> bytes:
    """Rewrite the RIFF and data chunk sizes of a streamed WAV to the real ones."""
    fixed = bytearray(data)
    fixed[4:8] = struct.pack("<I", len(data) - 8)
    index = fixed.find(b"data")
    if index >= 0:
        fixed[index + 4:index + 8] = struct.pack("<I", len(data) - index - 8)
    return bytes(fixed)


def join(parts: list[Speech], pause_s: float = 0.6) -> Speech:
    """Several utterances in one recording, separated by silence."""
    rate = parts[0].sample_rate
    gap = np.zeros(int(pause_s * rate), dtype=np.float32)
    pieces: list[np.ndarray] = []
    for part in parts:
        pieces.extend([part.samples, gap])
    return Speech(text=" ".join(p.text for p in parts), samples=np.concatenate(pieces), sample_rate=rate)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    import soxr

    return samples if rate == target else soxr.resample(samples, rate, target).astype(np.float32)


def encode(samples: np.ndarray, rate: int, fmt: str, *, channels: int = 1) -> bytes:
    """Encode mono float samples as ``fmt`` (see FORMATS) with a real encoder; ``channels`` copies them."""
    import av

    container_name, codec, codec_rate, _, _ = FORMATS[fmt]
    audio = resample(samples, rate, codec_rate)
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    interleaved = np.repeat(pcm[:, None], channels, axis=1).reshape(1, -1)
    buffer = io.BytesIO()
    layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
    with av.open(buffer, mode="w", format=container_name) as out:
        stream = cast("av.AudioStream", out.add_stream(codec, rate=codec_rate, layout=layout))
        frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
        frame.sample_rate = codec_rate
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=codec_rate)
        for resampled in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def wav_bytes(samples: np.ndarray, rate: int, *, channels: int = 1, subtype: str = "PCM_16") -> bytes:
    """A plain WAV written by libsndfile, for building bad-input variants."""
    import soundfile

    buffer = io.BytesIO()
    data = np.repeat(samples[:, None], channels, axis=1) if channels > 1 else samples
    soundfile.write(buffer, data, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def silence(duration_s: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(duration_s * rate), dtype=np.float32)


# Fourteen sentences (about 65 s spoken with pauses), each with a word found in no other sentence, so that
# word timestamps can be checked against where the sentence really is in a long recording.
LONG_SENTENCES = (
    ("The museum opens its doors at nine every morning.", "museum"),
    ("My grandmother grows tomatoes in her small garden.", "tomatoes"),
    ("The orchestra played a beautiful symphony last night.", "orchestra"),
    ("Children like to build castles out of wet sand.", "castles"),
    ("The pilot announced that we would land in twenty minutes.", "pilot"),
    ("Fresh bread smells wonderful when it comes out of the oven.", "bread"),
    ("The library has thousands of books about history.", "library"),
    ("A strong wind knocked over the old wooden fence.", "fence"),
    ("He forgot his umbrella and got wet in the rain.", "umbrella"),
    ("The doctor told him to drink more water every day.", "doctor"),
    ("Our team won the football match on Saturday afternoon.", "football"),
    ("The mountain village is covered in snow during winter.", "village"),
    ("She painted the kitchen walls a bright yellow color.", "kitchen"),
    ("The farmer sold apples and potatoes at the market.", "farmer"),
)


def long_recording(pause_s: float = 1.0) -> tuple[Speech, list[tuple[float, float, str]]]:
    """The fourteen sentences in one recording, and (start s, end s, key word) of each."""
    parts = [synthesize(text) for text, _ in LONG_SENTENCES]
    spans: list[tuple[float, float, str]] = []
    position = 0.0
    for part, (_, key) in zip(parts, LONG_SENTENCES, strict=True):
        spans.append((position, position + part.duration_s, key))
        position += part.duration_s + pause_s
    return join(parts, pause_s), spans


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER (jiwer) after lower-casing and removing punctuation on both sides."""
    import jiwer

    transform = jiwer.Compose([
        jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(), jiwer.Strip(),
        jiwer.ReduceToListOfListOfWords(),
    ])
    return float(jiwer.wer(references, hypotheses, reference_transform=transform, hypothesis_transform=transform))


@functools.cache
def whisper_base_app() -> Flask:
    """One audio service app (Whisper base, real weights) for every service test of the session.

    The synchronous limit is lowered to 120 s so that the over-the-limit cases stay small.
    """
    from services.audio.app import create_app
    from services.audio.settings import AudioSettings

    settings = AudioSettings(max_sync_duration_s=120.0, max_job_duration_s=900.0, request_timeout_s=300.0)
    return create_app(settings, load_in_background=False)
