"""RapidOCR (PP-OCRv4 detection + recognition, ONNX, weights shipped in its PyPI package): lines with boxes.

The engine works on one image at a time, so a batch is a loop; what batching still buys is one worker thread
owning the engine and the bounded queue in front of it. The detector scales an image's short side up to
736 pixels, so a long thin strip would become enormous: such images are first padded with white (right or
bottom, so box coordinates stay those of the original) to a bounded aspect ratio.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image

from services.vision.backends.base import ImageBackend
from services.vision.items import ImageItem, OcrResult, TextLine

DEFAULT_MAX_ASPECT = 4.0


def pad_to_aspect(image: Image.Image, max_ratio: float) -> Image.Image:
    """White padding on the short side until long / short <= ``max_ratio``; the content keeps its place."""
    width, height = image.size
    if width > height * max_ratio:
        size = (width, math.ceil(width / max_ratio))
    elif height > width * max_ratio:
        size = (math.ceil(height / max_ratio), height)
    else:
        return image
    padded = Image.new("RGB", size, (255, 255, 255))
    padded.paste(image, (0, 0))
    return padded


def _centre_y(line: TextLine) -> float:
    return sum(point[1] for point in line.box) / len(line.box)


def _height(line: TextLine) -> float:
    ys = [point[1] for point in line.box]
    return max(max(ys) - min(ys), 1.0)


def reading_rows(lines: list[TextLine]) -> list[list[TextLine]]:
    """Lines grouped into rows (vertical centres within half a line height), top to bottom, left to right."""
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=_centre_y):
        if rows and abs(_centre_y(line) - _centre_y(rows[-1][0])) < _height(rows[-1][0]) / 2:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda line: min(point[0] for point in line.box)) for row in rows]


class RapidOcrReader(ImageBackend):
    """``ocr``: text lines (text, confidence, 4-point box in pixels) and the lines joined by newlines."""

    tasks = frozenset({"ocr"})

    def load(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        options = dict(self.spec.options)
        self.max_aspect = float(options.pop("max_aspect_ratio", DEFAULT_MAX_ASPECT))
        # Other options are RapidOCR's own parameters (e.g. {"text_score": 0.6}); the weights are the package's.
        self.engine = RapidOCR(**options)

    def ocr(self, items: list[ImageItem]) -> list[OcrResult]:
        results = []
        for item in items:
            with self.stage("preprocess", 1):
                image = pad_to_aspect(item.image, self.max_aspect)
                bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
            with self.stage("forward", 1):
                found, _elapsed = self.engine(bgr)
            with self.stage("postprocess", 1):
                results.append(self._result(found or []))
        return results

    @staticmethod
    def _result(found: list[Any]) -> OcrResult:
        rows = reading_rows([
            TextLine(str(text), round(float(score), 4), [[float(x), float(y)] for x, y in box])
            for box, text, score in found
        ])
        text = "\n".join(" ".join(line.text for line in row) for row in rows)
        return OcrResult(text, [line for row in rows for line in row])
