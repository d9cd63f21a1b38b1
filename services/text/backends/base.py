"""What every text tower shares: tokenise, run the tower on a padded batch, hand back vectors with token counts.

Texts are tokenised in the request's own thread (``prepare``), off the model's thread; the micro-batcher then sorts
the queued token lists by length and pads each batch only to its own longest item (``item_cost``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from typing import Any

import numpy as np

from servekit.embeddings import TokenCountedVector
from servekit.models import ModelBackend


class TextTower(ModelBackend):
    """``embed``: texts -> (vector, token count). Subclasses load ``tokenizer``/``model`` and embed tokens."""

    tasks = frozenset({"embed"})
    tokenizer: Any
    max_length: int
    dimensions: int
    normalized: bool = True
    # Forward passes of fewer padded tokens run on one intra-op thread on the CPU (``Placement.threads_for``);
    # ``options.single_thread_tokens`` overrides, 0 never. Measured with MiniLM on 2 cores, in process: one thread
    # was 1.5x as fast for one sentence, 1.1-1.4x for 2-4, even at 8 (about 160 tokens), slower at 16.
    single_thread_tokens: int = 128

    @abstractmethod
    def embed_tokens(self, encoded: Any) -> Any:
        """Tokenised batch -> float tensor [B, D]."""

    def warmup(self) -> None:
        self.embed(["a photo of a cat"])

    def info(self) -> dict[str, Any]:
        return {**super().info(), "dimensions": self.dimensions, "max_tokens": self.max_length,
                "normalized": self.normalized, "truncatable": bool(self.spec.options.get("matryoshka", False))}

    def prepare(self, task: str, items: list[Any]) -> list[Any]:
        """Texts -> their token lists (``{"input_ids": [...], "attention_mask": [...], ...}``), unpadded."""
        if not items or not isinstance(items[0], str):
            return items
        encoded = self.tokenizer(items, truncation=True, max_length=self.max_length)
        return [{key: values[i] for key, values in encoded.items()} for i in range(len(items))]

    def item_cost(self, task: str) -> Callable[[Any], int] | None:
        return token_count

    def matmuls(self) -> AbstractContextManager[Any]:
        """Where the forward pass runs: float32 unless a subclass opts into the placement's bfloat16 products."""
        return nullcontext()

    @cached_property
    def single_thread_below(self) -> int:
        """Padded tokens under which a forward pass runs on one CPU thread: the option, read once."""
        return int(self.spec.options.get("single_thread_tokens", self.single_thread_tokens))

    def embed(self, items: list[Any]) -> list[TokenCountedVector]:
        """Texts, or token lists from ``prepare``, -> (vector, token count) each, in order."""
        import torch

        with self.stage("preprocess", len(items)):
            padded = pad_batch(self.prepare("embed", items), self.tokenizer.pad_token_id or 0,
                               self.tokenizer.padding_side)
            encoded = {key: torch.from_numpy(array).to(self.placement.device) for key, array in padded.items()}
        threads = self.placement.threads_for(int(encoded["input_ids"].numel()), self.single_thread_below)
        with self.stage("forward", len(items)), torch.inference_mode(), self.matmuls(), threads:
            vectors = self.embed_tokens(encoded)
        with self.stage("postprocess", len(items)):
            array = vectors.float().cpu().numpy()
            counts = encoded["attention_mask"].sum(dim=1).tolist()
        return [TokenCountedVector(array[i], int(counts[i])) for i in range(len(items))]


def token_count(item: dict[str, list[int]]) -> int:
    """The cost of a prepared text in a batch: its token count."""
    return len(item["input_ids"])


def pad_batch(items: list[dict[str, list[int]]], pad_id: int, side: str = "right") -> dict[str, np.ndarray]:
    """Token lists -> int64 arrays [B, longest], ``input_ids`` padded with ``pad_id`` and the other fields (attention
    mask, token types) with 0, on the tokenizer's padding side. What ``tokenizer.pad`` does, a few times faster."""
    longest = max(len(item["input_ids"]) for item in items)
    arrays: dict[str, np.ndarray] = {}
    for key in items[0]:
        array = np.full((len(items), longest), pad_id if key == "input_ids" else 0, dtype=np.int64)
        for row, item in enumerate(items):
            values = item[key]
            if side == "left":
                array[row, longest - len(values):] = values
            else:
                array[row, :len(values)] = values
        arrays[key] = array
    return arrays
