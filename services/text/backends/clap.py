"""The CLAP text tower (``ClapTextModelWithProjection``): text vectors in CLAP's joint audio-text space."""

from __future__ import annotations

from typing import Any

from servekit.models import resolve_source
from services.text.backends.base import TextTower


class ClapTextEmbedder(TextTower):
    """Unit vectors comparable with the audio service's CLAP audio tower of the same checkpoint
    (space ``clap:<source>``)."""

    space_family = "clap"

    def load(self) -> None:
        from transformers import AutoTokenizer, ClapTextModelWithProjection

        source = resolve_source(self.spec.source)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        model = ClapTextModelWithProjection.from_pretrained(source, dtype=self.placement.dtype)
        self.model = model.to(self.placement.device).eval()  # type: ignore[arg-type]  # transformers' stubs
        config = self.model.config
        # RoBERTa-style positions start after the padding index, so fewer tokens fit than positions exist.
        positions = int(config.max_position_embeddings) - int(config.pad_token_id or 0) - 1
        self.max_length = min(positions, int(self.tokenizer.model_max_length))
        self.dimensions = int(config.projection_dim)

    def embed_tokens(self, encoded: Any) -> Any:
        import torch

        output = self.model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
        return torch.nn.functional.normalize(output.text_embeds.float(), p=2, dim=-1)
