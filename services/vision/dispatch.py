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
    slots = [index for index, image in enumerate(images) if not isinstance(image, ApiError)]
    results: list[Any] = list(images)
    if slots:
        items = [make_item(images[index]) for index in slots]  # type: ignore[arg-type]
        outputs = pool.run(model, task, items, remaining_s())
        for index, output in zip(slots, outputs, strict=True):
            results[index] = output
    return results
