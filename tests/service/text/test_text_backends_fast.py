"""The text backends' fast paths give the vectors of sentence-transformers: texts tokenised ahead of batching and
padded per batch, and the opt-in ONNX Runtime backend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from servekit.device import resolve_placement
from servekit.models import ModelSpec
from services.text.backends.base import pad_batch
from services.text.backends.onnx import OnnxSentenceEmbedder
from services.text.backends.sentence import SentenceEmbedder
from services.text.settings import MINILM

TEXTS = ["A man is playing a guitar.", "short", "The central bank left interest rates unchanged for the third month "
         "in a row, citing uncertainty about energy prices and wages.", "Two dogs run through a field of snow."]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))


def vectors(backend: SentenceEmbedder, items: list) -> np.ndarray:  # type: ignore[type-arg]
    return np.stack([vector for vector, _ in backend.predict("embed", items)])


@pytest.fixture(scope="module")
def torch_backend() -> SentenceEmbedder:
    backend = SentenceEmbedder(MINILM, resolve_placement("cpu"))
    backend.load()
    return backend


def test_prepared_tokens_in_any_grouping_give_the_vectors_of_sentence_transformers(
        torch_backend: SentenceEmbedder, minilm_reference) -> None:  # type: ignore[no-untyped-def]
    prepared = torch_backend.prepare("embed", TEXTS)
    assert [torch_backend.item_cost("embed")(item) for item in prepared][:2] == [9, 3]  # type: ignore[misc]
    reference = minilm_reference.encode(TEXTS, normalize_embeddings=True)
    together = vectors(torch_backend, prepared)
    one_by_one = np.stack([vectors(torch_backend, [item])[0] for item in prepared])
    assert cosines(together, reference).min() >= 0.9999
    assert cosines(one_by_one, reference).min() >= 0.9999
    counts = [count for _, count in torch_backend.predict("embed", prepared)]
    assert counts == [len(item["input_ids"]) for item in prepared]


def test_bf16_matmuls_keep_cosine_to_sentence_transformers(minilm_reference) -> None:  # type: ignore[no-untyped-def]
    """bfloat16 products (``TEXT_CPU_BF16``) on short and long texts, alone and batched: cosine >= 0.9999."""
    import torch

    from servekit.device import Placement

    backend = SentenceEmbedder(MINILM, Placement("cpu", "float32", cpu_bf16=True))
    backend.load()
    assert backend.model.encoder.layer[0].attention.self.query.weight.dtype == torch.bfloat16
    assert backend.info()["precision"] == "bfloat16 matmuls"
    sentences = (Path(__file__).parents[3] / "bench" / "data" / "sts_sentences.txt").read_text().splitlines()
    texts = TEXTS + [line for line in sentences if line.strip()][:60] + [" ".join(sentences[:40])]
    reference = minilm_reference.encode(texts, normalize_embeddings=True)
    prepared = backend.prepare("embed", texts)
    assert cosines(vectors(backend, prepared), reference).min() >= 0.9999
    assert cosines(vectors(backend, prepared[:1]), reference[:1]).min() >= 0.9999


def test_a_few_short_texts_run_on_one_thread_and_a_large_batch_on_all(torch_backend: SentenceEmbedder,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    torch.set_num_threads(2)
    seen: list[tuple[int, int]] = []
    forward = torch_backend.embed_tokens

    def spy(encoded):  # type: ignore[no-untyped-def]
        seen.append((int(encoded["input_ids"].numel()), torch.get_num_threads()))
        return forward(encoded)

    monkeypatch.setattr(torch_backend, "embed_tokens", spy)
    vectors(torch_backend, ["a short one", "and another"])
    vectors(torch_backend, [f"sentence number {i} is long enough to count" for i in range(16)])
    (small, small_threads), (large, large_threads) = seen
    assert small < torch_backend.single_thread_tokens <= large
    assert (small_threads, large_threads, torch.get_num_threads()) == (1, 2, 2)


def test_pad_batch_pads_ids_with_the_pad_id_and_masks_with_zero_on_either_side() -> None:
    items = [{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1]}, {"input_ids": [8], "attention_mask": [1]}]
    right = pad_batch(items, pad_id=0)
    left = pad_batch(items, pad_id=9, side="left")
    assert right["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert right["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert left["input_ids"].tolist() == [[5, 6, 7], [9, 9, 8]]
    assert left["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]


def test_onnx_backend_vectors_match_sentence_transformers_and_the_export_is_reused(
        tmp_path: Path, minilm_reference) -> None:  # type: ignore[no-untyped-def]
    spec = ModelSpec(name="minilm-onnx", backend="onnx", source=MINILM.source, options={"cache_dir": str(tmp_path)})
    # The service's placement on a CPU with bfloat16 products: the export and ONNX Runtime stay float32.
    backend = OnnxSentenceEmbedder(spec, resolve_placement("cpu", cpu_bf16="on"))
    backend.load()
    assert backend.info()["precision"] == "float32"
    exported = Path(backend.onnx_path)
    assert exported.is_file() and exported.is_relative_to(tmp_path)
    reference = minilm_reference.encode(TEXTS, normalize_embeddings=True)
    assert cosines(vectors(backend, TEXTS), reference).min() >= 0.999
    assert backend.info()["runtime"] == "onnxruntime" and backend.info()["dimensions"] == 384
    modified = exported.stat().st_mtime_ns
    again = OnnxSentenceEmbedder(spec, resolve_placement("cpu"))
    again.load()
    assert again.onnx_path == backend.onnx_path and exported.stat().st_mtime_ns == modified
    assert cosines(vectors(again, TEXTS[:1]), reference[:1]).min() >= 0.999
