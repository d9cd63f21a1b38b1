"""Cross-encoder rerankers: a sequence-classification transformer reads (query, document) together and scores how
well the document answers the query (ms-marco MiniLM cross-encoders, BGE rerankers, any
``AutoModelForSequenceClassification`` checkpoint by hub id or folder).

The ``rerank`` task takes ``(query, document)`` pairs, so pairs of many requests meet in one micro-batch.
A one-logit head gives ``sigmoid(logit)`` (what sentence-transformers' CrossEncoder and Cohere/Jina report);
a head with several labels gives the softmax probability of its last label (the "relevant" class), unless the
``activation`` option says ``none`` (raw logit of that label).
"""

from __future__ import annotations

from typing import Any

from servekit.models import ModelBackend, resolve_source

Pair = tuple[str, str]
ACTIVATIONS = ("sigmoid", "none")


class CrossEncoderReranker(ModelBackend):
    """``rerank``: (query, document) pairs -> (relevance score, token count)."""

    tasks = frozenset({"rerank"})
    tokenizer: Any
    model: Any
    max_length: int

    def load(self) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        source = resolve_source(self.spec.source)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForSequenceClassification.from_pretrained(source, dtype=self.placement.dtype)
        self.model = model.to(self.placement.device).eval()
        self.activation = str(self.spec.options.get("activation", "sigmoid"))
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"model {self.name}: activation must be one of {ACTIVATIONS}")
        limits = [v for v in (self.tokenizer.model_max_length,
                              getattr(self.model.config, "max_position_embeddings", None)) if v]
        self.max_length = int(self.spec.options.get("max_length", min(limits) if limits else 512))

    def warmup(self) -> None:
        self.rerank([("what is a cat", "a cat is a small domesticated animal")])

    def info(self) -> dict[str, Any]:
        return {**super().info(), "max_tokens": self.max_length,
                "labels": int(self.model.config.num_labels), "activation": self.activation}

    def rerank(self, items: list[Pair]) -> list[tuple[float, int]]:
        """(query, document) pairs -> (relevance score, token count) each."""
        import torch

        with self.stage("preprocess", len(items)):
            # Long pairs lose tokens from the longer side first, so a short query always survives.
            encoded = self.tokenizer([q for q, _ in items], [d for _, d in items], padding=True,
                                     truncation="longest_first", max_length=self.max_length,
                                     return_tensors="pt").to(self.placement.device)
        with self.stage("forward", len(items)), torch.inference_mode():
            logits = self.model(**encoded).logits.float()
        with self.stage("postprocess", len(items)):
            scores = self._scores(logits).cpu().tolist()
            counts = encoded["attention_mask"].sum(dim=1).tolist()
        return [(float(scores[i]), int(counts[i])) for i in range(len(items))]

    def _scores(self, logits: Any) -> Any:
        """Logits [B, L] -> one relevance score per pair."""
        import torch

        if self.activation == "none":
            return logits[:, -1]
        if logits.shape[1] == 1:
            return torch.sigmoid(logits[:, 0])
        return torch.softmax(logits, dim=1)[:, -1]
