"""The CLIP text tower (``CLIPTextModelWithProjection``): text vectors in CLIP's joint text-image space."""

from __future__ import annotations

from typing import Any

from servekit.models import resolve_source
from servekit.towers import tower_config
from services.text.backends.base import TextTower


class ClipTextEmbedder(TextTower):
    """Unit vectors comparable with the CLIP image tower of the same checkpoint (space ``clip:<source>``)."""

    space_family = "clip"

    def load(self) -> None:
        from transformers import AutoTokenizer, CLIPTextModelWithProjection

        source = resolve_source(self.spec.source)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        model: Any = CLIPTextModelWithProjection.from_pretrained(
            source, config=tower_config(source, "text_config"), dtype=self.placement.dtype)
        self.model = model.to(self.placement.device).eval()
        self.max_length = int(self.model.config.max_position_embeddings)
        self.dimensions = int(self.model.config.projection_dim)

    def embed_tokens(self, encoded: Any) -> Any:
        import torch

        return torch.nn.functional.normalize(self.model(**encoded).text_embeds.float(), p=2, dim=-1)
