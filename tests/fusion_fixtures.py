"""Real media for fusion tests: scikit-image's bundled photos as PNG, espeak-ng speech as WAV, both base64.

espeak-ng is a system package (``make system-deps`` installs it); tests that need it fail loudly without it.
"""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


@cache
def photo_png(name: str, size: int = 224) -> bytes:
    """A scikit-image photo (``chelsea`` is a cat, ``coffee`` a cup of coffee ...) as PNG bytes."""
    from skimage import data

    pixels = np.asarray(getattr(data, name)())
    image = Image.fromarray(pixels).convert("RGB")
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def photo_b64(name: str) -> str:
    return base64.b64encode(photo_png(name)).decode("ascii")


@cache
def speech_wav(sentence: str) -> bytes:
    """espeak-ng speaking ``sentence`` (16 kHz mono WAV)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed: run `make system-deps`")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run([espeak, "-v", "en-us", "-s", "150", "-w", str(path), sentence], check=True,
                       capture_output=True, timeout=60)
        return path.read_bytes()


def speech_b64(sentence: str) -> str:
    return "data:audio/wav;base64," + base64.b64encode(speech_wav(sentence)).decode("ascii")
