"""Any sentence-embedding transformer: pooling and normalisation as its sentence-transformers config says."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, ClassVar

from servekit.models import resolve_source
from services.text.backends.base import TextTower

_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_lasttoken": "lasttoken",
}


def read_pipeline_config(folder: Path) -> tuple[str, bool, int | None]:
    """(pooling mode, normalise?, max sequence length) from a sentence-transformers model folder.

    Falls back to mean pooling with normalisation when the folder is a plain transformers model.
    """
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return "mean", True, None
    modules = json.loads(modules_file.read_text())
    pooling, normalize = "mean", False
    for module in modules:
        kind = module.get("type", "")
        if kind.endswith("Pooling"):
            pooling = _pooling_mode(json.loads((folder / module["path"] / "config.json").read_text()))
        elif kind.endswith("Normalize"):
            normalize = True
    max_len = None
    bert_config = folder / "sentence_bert_config.json"
    if bert_config.is_file():
        max_len = json.loads(bert_config.read_text()).get("max_seq_length")
    return pooling, normalize, max_len


def _pooling_mode(config: dict[str, Any]) -> str:
    for key, mode in _POOLING_KEYS.items():
        if config.get(key):
            return mode
    return "mean"


def pool(hidden: Any, mask: Any, mode: str) -> Any:
    """Token states [B, T, H] and attention mask [B, T] -> sentence vectors [B, H]."""
    import torch

    if mode == "cls":
        return hidden[:, 0]
    if mode == "lasttoken":
        last = mask.sum(dim=1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    expanded = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "max":
        return hidden.masked_fill(expanded == 0, torch.finfo(hidden.dtype).min).max(dim=1).values
    return (hidden * expanded).sum(dim=1) / expanded.sum(dim=1).clamp(min=1e-9)


class SentenceEmbedder(TextTower):
    """Token states pooled as the model's own config says, then normalised if it says so."""

    space_family = "sentence"
    # Whether the forward pass is torch's, and so may run in the placement's bfloat16 products (ONNX Runtime: no).
    torch_forward: ClassVar[bool] = True

    def load(self) -> None:
        from transformers import AutoModel, AutoTokenizer

        source = resolve_source(self.spec.source)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModel.from_pretrained(source, dtype=self.placement.dtype)
        self.model = model.to(self.placement.device).eval()
        if self.torch_forward:
            self.placement.cast_matmul_weights(self.model)
        folder = Path(source)
        pooling, normalize, max_len = read_pipeline_config(folder) if folder.is_dir() else ("mean", True, None)
        self.pooling = str(self.spec.options.get("pooling", pooling))
        self.normalized = bool(self.spec.options.get("normalize", normalize))
        limits = [v for v in (max_len, self.tokenizer.model_max_length,
                              getattr(self.model.config, "max_position_embeddings", None)) if v]
        self.max_length = int(self.spec.options.get("max_length", min(limits) if limits else 512))
        self.dimensions = int(self.model.config.hidden_size)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "pooling": self.pooling, "precision": "bfloat16 matmuls" if self.bf16_products
                else self.placement.dtype_name}

    @property
    def bf16_products(self) -> bool:
        return self.torch_forward and self.placement.cpu_bf16

    def matmuls(self) -> AbstractContextManager[Any]:
        return self.placement.matmuls() if self.torch_forward else super().matmuls()

    def embed_tokens(self, encoded: Any) -> Any:
        import torch

        hidden = self.model(**encoded).last_hidden_state.float()  # pooled in float32 whatever the products ran in
        vectors = pool(hidden, encoded["attention_mask"], self.pooling).float()
        return torch.nn.functional.normalize(vectors, p=2, dim=1) if self.normalized else vectors
