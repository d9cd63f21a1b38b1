"""Real media synthesized for tests, one place for every area: scikit-image's bundled photos, text rendered for
OCR, bad and awkward images, and speech spoken by espeak-ng, encoded in real formats by PyAV.

espeak-ng is a system package (``make system-deps`` installs it); tests that need it fail loudly without it.
"""

from __future__ import annotations

import base64
import io
import shutil
import struct
import subprocess
import zlib
from dataclasses import dataclass
from functools import cache
from typing import cast

import numpy as np
from PIL import Image, ImageDraw, ImageFont


# -- real photos and rendered text -----------------------------------------------------------------------
def encode_image(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    """``data`` as a base64 string, the way JSON bodies carry media."""
    return base64.b64encode(data).decode("ascii")


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{b64(data)}"


@cache
def photo_png(name: str, size: int | None = None) -> bytes:
    """One of scikit-image's bundled photos (``chelsea`` is a cat, ``coffee`` a cup of coffee, ``astronaut``...)
    as PNG bytes; ``size`` shrinks it to fit a ``size`` x ``size`` box."""
    from skimage import data

    image = Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB")
    if size is not None:
        image.thumbnail((size, size))
    return encode_image(image)


def photo_b64(name: str, size: int | None = None) -> str:
    """:func:`photo_png` as base64, for JSON bodies."""
    return b64(photo_png(name, size))


def render_text(lines: list[str], size: int = 40) -> Image.Image:
    """Black text on white, one line per entry, with Pillow's bundled scalable font."""
    font = ImageFont.load_default(size=size)
    image = Image.new("RGB", (max(len(line) for line in lines) * size * 2 // 3 + 60, len(lines) * size * 2),
                      "white")
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        draw.text((30, 20 + row * size * 2), line, fill="black", font=font)
    return image


# -- bad and awkward images ------------------------------------------------------------------------------
def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares ``width x height`` pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows) + _png_chunk(b"IEND", b"")


def truncated_jpeg() -> bytes:
    data = encode_image(Image.open(io.BytesIO(photo_png("chelsea"))), "JPEG", quality=90)
    return data[: len(data) // 2]


def cmyk_jpeg() -> bytes:
    return encode_image(Image.open(io.BytesIO(photo_png("coffee"))).convert("CMYK"), "JPEG", quality=90)


def png_16bit() -> bytes:
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    return encode_image(Image.fromarray(ramp))


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (40, 30), color) for color in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def rgba_png() -> bytes:
    image = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 8, 16))
    return encode_image(image)


def bad_image_corpus() -> dict[str, tuple[bytes, int | None, str | None]]:
    """name -> (bytes, expected status or None for success, expected error code)."""
    return {
        "truncated_jpeg": (truncated_jpeg(), 400, "corrupt_image"),
        "png_bomb": (png_bomb(), 413, "image_too_many_pixels"),
        "wrong_magic": (b"\x89PNX\r\n\x1a\n" + photo_png("chelsea")[8:200], 400, "invalid_image"),
        "text_named_png": (b"this is a text file, not a picture\n" * 4, 400, "invalid_image"),
        "huge_dimensions": (png_bomb(70_000, 1), 400, "image_aspect_ratio"),
        "animated_gif": (animated_gif(), None, None),
        "png_16bit": (png_16bit(), None, None),
        "cmyk_jpeg": (cmyk_jpeg(), None, None),
        "rgba_png": (rgba_png(), None, None),
        "one_pixel": (encode_image(Image.new("RGB", (1, 1), "white")), None, None),
        "tall_strip": (encode_image(Image.new("L", (4, 300), 200)), None, None),
    }


# -- speech --------------------------------------------------------------------------------------------------
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


@cache
def espeak_wav(text: str, *, voice: str = "en-us", words_per_minute: int = 150) -> bytes:
    """espeak-ng's own WAV of ``text`` (22.05 kHz, 16-bit mono), its streamed header sizes made real."""
    wav = subprocess.run([espeak_path(), "-v", voice, "-s", str(words_per_minute), "--stdout", text],
                         check=True, capture_output=True, timeout=60).stdout
    return _fix_stream_header(wav)


@cache
def synthesize(text: str, *, voice: str = "en-us", words_per_minute: int = 150) -> Speech:
    """espeak-ng speaks ``text``; its WAV is read back as float samples."""
    samples, rate = read_wav(espeak_wav(text, voice=voice, words_per_minute=words_per_minute))
    return Speech(text=text, samples=samples, sample_rate=rate)


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    import soundfile

    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=False)
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


def encode_audio(samples: np.ndarray, rate: int, fmt: str, *, channels: int = 1) -> bytes:
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


def spoken(text: str, fmt: str = "wav", *, channels: int = 1) -> bytes:
    """espeak-ng speaking ``text``, encoded as ``fmt`` (see FORMATS)."""
    speech = synthesize(text)
    return encode_audio(speech.samples, speech.sample_rate, fmt, channels=channels)


def speech_data_uri(text: str) -> str:
    """espeak-ng's WAV of ``text`` as a ``data:audio/wav;base64,...`` URI, for JSON bodies."""
    return data_uri(espeak_wav(text), "audio/wav")


def speech_at(text: str, rate: int) -> np.ndarray:
    """espeak-ng speaking ``text`` as float samples at ``rate`` Hz."""
    speech = synthesize(text)
    return resample(speech.samples, speech.sample_rate, rate)


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
