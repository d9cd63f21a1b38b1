"""What every vision backend shares: task dispatch, a synthetic warm-up image, and embedding facts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from servekit.models import ModelBackend
from services.vision.items import Generation, ImageItem


def warmup_image(size: int = 64) -> Image.Image:
    """A small gradient: real pixels, so that the warm-up pass takes the same path as a request."""
    ramp = np.linspace(0, 255, size, dtype=np.uint8)
    pixels = np.stack([np.tile(ramp, (size, 1)), np.tile(ramp[:, None], (1, size)),
                       np.full((size, size), 128, np.uint8)], axis=-1)
    return Image.fromarray(pixels)


class ImageBackend(ModelBackend):
    """A model fed decoded RGB images (:class:`ImageItem`), one batched method per task it lists."""

    dimensions: int = 0
    normalized: bool = True
    # Tasks whose items get their pixels in the request's thread (``prepare``), through ``image_pixels``.
    pixel_tasks: ClassVar[frozenset[str]] = frozenset()

    def warmup(self) -> None:
        item = ImageItem(warmup_image(), top_k=1, generation=Generation(max_new_tokens=2, num_beams=1))
        for task in sorted(self.tasks):
            self.predict(task, [item])

    def info(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if "embed" in self.tasks:
            extra = {"dimensions": self.dimensions, "normalized": self.normalized, "truncatable": False}
        return {**super().info(), **extra}

    def images(self, items: Sequence[ImageItem]) -> list[Image.Image]:
        return [item.image for item in items]

    def image_pixels(self, image: Image.Image) -> np.ndarray:
        """One image -> the model's input for it (resized, not yet batched); backends that list ``pixel_tasks``."""
        raise NotImplementedError(f"{type(self).__name__} lists pixel_tasks without image_pixels")

    def prepare(self, task: str, items: list[Any]) -> list[Any]:
        """Resize each image in the request's own thread, off the model's thread (which then only stacks the
        pixels and runs the forward pass, overlapping the next requests' preparation)."""
        if task not in self.pixel_tasks:
            return items
        return [replace(item, pixels=self.image_pixels(item.image))
                if isinstance(item, ImageItem) and item.pixels is None else item for item in items]

    def pixels_of(self, items: Sequence[ImageItem]) -> list[np.ndarray]:
        """Each item's prepared pixels; items that did not pass through ``prepare`` (a direct call) get them here."""
        return [item.pixels if item.pixels is not None else self.image_pixels(item.image) for item in items]

    def to_device(self, tensor: Any) -> Any:
        """Move pixel tensors to the model's device and dtype."""
        return tensor.to(self.placement.device, dtype=self.placement.dtype)
