"""What a vision model is handed per image: the decoded image and the per-request options it needs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Generation:
    """Bounds of one caption's search; items of a batch that agree on them share one ``generate`` call."""

    max_new_tokens: int
    num_beams: int


@dataclass(frozen=True)
class ImageItem:
    image: Image.Image
    top_k: int = 5
    generation: Generation | None = None
    # The model's input for this image, made by the backend's ``prepare`` in the request's thread (None: not yet).
    pixels: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Label:
    label: str
    score: float


@dataclass(frozen=True)
class TextLine:
    text: str
    confidence: float
    box: list[list[float]]


@dataclass(frozen=True)
class OcrResult:
    text: str
    lines: list[TextLine]
