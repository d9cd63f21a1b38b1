"""Image towers of CLIP-family joint text-image models: CLIP (``CLIPVisionModelWithProjection``) and SigLIP.

A tower's space id is ``<family>:<source>``, the same as the text service's text tower of that checkpoint, so
a text vector and an image vector of one checkpoint can be compared directly. Pixels are prepared by the
checkpoint's own image processor.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np

from servekit.models import resolve_source
from servekit.towers import tower_config
from services.vision.backends.base import ImageBackend
from services.vision.items import ImageItem


class JointImageTower(ImageBackend):
    """``embed``: unit-length image embeddings in the joint space."""

    tasks = frozenset({"embed"})
    model: Any

    @abstractmethod
    def load_model(self, source: str) -> None:
        """Set ``model`` (on the CPU, in the placement's dtype) and ``dimensions`` from the checkpoint."""

    @abstractmethod
    def image_features(self, pixels: Any) -> Any:
        """Pixel batch -> float tensor [B, D] in the joint space."""

    def load(self) -> None:
        from transformers import AutoImageProcessor

        source = resolve_source(self.spec.source)
        self.processor = AutoImageProcessor.from_pretrained(source)
        self.load_model(source)
        self.model = self.model.to(self.placement.device).eval()

    def embed(self, items: list[ImageItem]) -> list[np.ndarray]:
        import torch

        with self.stage("preprocess", len(items)):
            pixels = self.to_device(self.processor(images=self.images(items), return_tensors="pt")["pixel_values"])
        with self.stage("forward", len(items)), torch.inference_mode():
            vectors = self.image_features(pixels).float()
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=-1).cpu().numpy()
        return list(vectors)


class ClipImageEmbedder(JointImageTower):
    """CLIP's projected image embeddings (space ``clip:<source>``, shared with the ``clip-text`` tower)."""

    space_family = "clip"

    def load_model(self, source: str) -> None:
        from transformers import CLIPVisionModelWithProjection

        self.model = CLIPVisionModelWithProjection.from_pretrained(
            source, config=tower_config(source, "vision_config"), dtype=self.placement.dtype)
        self.dimensions = int(self.model.config.projection_dim)

    def image_features(self, pixels: Any) -> Any:
        return self.model(pixel_values=pixels).image_embeds


class SiglipImageEmbedder(JointImageTower):
    """SigLIP's pooled image embeddings (space ``siglip:<source>``), as ``SiglipModel.get_image_features``."""

    space_family = "siglip"

    def load_model(self, source: str) -> None:
        from transformers import SiglipVisionModel

        self.model = SiglipVisionModel.from_pretrained(
            source, config=tower_config(source, "vision_config"), dtype=self.placement.dtype)
        self.dimensions = int(self.model.config.hidden_size)

    def image_features(self, pixels: Any) -> Any:
        return self.model(pixel_values=pixels).pooler_output
