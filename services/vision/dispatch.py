"""Send a request's good images through a model's batcher and put each result back in its input's slot."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image

from servekit.context import remaining_s
from servekit.errors import ApiError
from servekit.models import ModelPool
from services.vision.intake import ImageOrError
from services.vision.items import ImageItem


def run_images(pool: ModelPool, model: str, task: str, images: Sequence[ImageOrError],
               make_item: Callable[[Image.Image], ImageItem]) -> list[Any]:
    """One result per image, in order: the model's output, or the error that image earned."""
    decoded = [(index, image) for index, image in enumerate(images) if not isinstance(image, ApiError)]
    results: list[Any] = list(images)
    if decoded:
        slots = [index for index, _ in decoded]
        outputs = pool.run(model, task, [make_item(image) for _, image in decoded], remaining_s())
        for index, output in zip(slots, outputs, strict=True):
            results[index] = output
    return results
