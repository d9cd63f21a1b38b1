"""What every text tower shares: tokenise a batch, run the tower, hand back vectors with token counts."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from servekit.embeddings import TokenCountedVector
from servekit.models import ModelBackend


class TextTower(ModelBackend):
    """``embed``: texts -> (vector, token count). Subclasses load ``tokenizer``/``model`` and embed tokens."""

    tasks = frozenset({"embed"})
    tokenizer: Any
    max_length: int
    dimensions: int
    normalized: bool = True

    @abstractmethod
    def embed_tokens(self, encoded: Any) -> Any:
        """Tokenised batch -> float tensor [B, D]."""

    def warmup(self) -> None:
        self.embed(["a photo of a cat"])

    def info(self) -> dict[str, Any]:
        return {**super().info(), "dimensions": self.dimensions, "max_tokens": self.max_length,
                "normalized": self.normalized, "truncatable": bool(self.spec.options.get("matryoshka", False))}

    def embed(self, items: list[str]) -> list[TokenCountedVector]:
        import torch

        with self.stage("preprocess", len(items)):
            encoded = self.tokenizer(items, padding=True, truncation=True, max_length=self.max_length,
                                     return_tensors="pt").to(self.placement.device)
        with self.stage("forward", len(items)), torch.inference_mode():
            vectors = self.embed_tokens(encoded)
        with self.stage("postprocess", len(items)):
            array = vectors.float().cpu().numpy()
            counts = encoded["attention_mask"].sum(dim=1).tolist()
        return [TokenCountedVector(array[i], int(counts[i])) for i in range(len(items))]
