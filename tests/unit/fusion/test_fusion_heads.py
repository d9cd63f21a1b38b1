"""The learned fusion head on real MiniLM vectors: it learns which modality to trust and beats the untrained
weighted mean on held-out examples; versions are saved and loaded back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from servekit.errors import NotFound
from services.fusion.heads import HeadRegistry, train_head
from services.fusion.strategies import normalise, weighted_mean

LABELS = ["animal", "food", "vehicle", "music"]
# What an image contributes through the bridge (its top labels): reliable.
IMAGE_TEXTS = {
    "animal": ["tabby cat, tiger cat", "golden retriever", "African elephant", "zebra", "brown bear", "red fox",
               "giant panda", "bald eagle"],
    "food": ["espresso, cup", "pizza", "cheeseburger", "ice cream", "bagel", "banana", "strawberry", "pretzel"],
    "vehicle": ["sports car", "school bus", "fire engine", "mountain bike", "steam locomotive", "motor scooter",
                "pickup truck", "airliner"],
    "music": ["acoustic guitar", "grand piano", "violin", "drum", "saxophone", "trumpet", "harmonica", "cello"],
}
# What users typed as captions: about something else entirely (a noisy modality).
TEXTS = {
    "animal": ["my dog loves long walks", "the cat slept all day", "birds singing at dawn", "a horse in a field",
               "feeding the ducks", "a lion at the zoo", "fish in the aquarium", "a rabbit in the garden"],
    "food": ["dinner was delicious", "fresh bread from the bakery", "a bowl of noodle soup", "grilled salmon",
             "chocolate cake for dessert", "a salad with tomatoes", "pancakes for breakfast", "spicy curry"],
    "vehicle": ["stuck in traffic again", "the train was late", "riding my motorbike", "a new electric car",
                "the bus to the airport", "boats in the harbour", "a tractor on the farm", "the plane took off"],
    "music": ["the concert was loud", "learning to play piano", "a jazz band tonight", "singing in the choir",
              "a new album came out", "dancing to the song", "the orchestra rehearsed", "a rock festival"],
}
TRAIN, HELD_OUT = slice(0, 5), slice(5, 8)


@pytest.fixture(scope="module")
def encode(minilm_reference: Any) -> Any:
    def run(texts: list[str]) -> np.ndarray:
        return np.asarray(minilm_reference.encode(texts, normalize_embeddings=True), dtype=np.float64)

    return run


def _dataset(encode: Any, part: slice) -> tuple[list[dict[str, np.ndarray]], list[int]]:
    features, targets = [], []
    for index, label in enumerate(LABELS):
        misleading = LABELS[(index + 1) % len(LABELS)]
        images, texts = encode(IMAGE_TEXTS[label][part]), encode(TEXTS[misleading][part])
        for image, text in zip(images, texts, strict=True):
            features.append({"text": text, "image": image})
            targets.append(index)
    return features, targets


def _accuracy(fused: list[np.ndarray], targets: list[int], labels: np.ndarray) -> float:
    predictions = [int(np.argmax(labels @ normalise(vector))) for vector in fused]
    return float(np.mean([p == t for p, t in zip(predictions, targets, strict=True)]))


def test_trained_head_beats_the_untrained_weighted_mean_on_held_out_examples(encode: Any, tmp_path: Path) -> None:
    labels = encode(LABELS)
    train_x, train_y = _dataset(encode, TRAIN)
    test_x, test_y = _dataset(encode, HELD_OUT)
    module, metrics = train_head(train_x, train_y, labels, epochs=150)
    registry = HeadRegistry(tmp_path)
    head = registry.save("topics", "minilm", LABELS, module, metrics)
    untrained = _accuracy([weighted_mean(x, {}) for x in test_x], test_y, labels)
    trained = _accuracy([head.fuse(x) for x in test_x], test_y, labels)
    assert trained > untrained
    assert trained >= 0.75
    assert metrics["train_accuracy"] >= metrics["untrained_train_accuracy"]


def test_versions_are_saved_and_loaded_back(encode: Any, tmp_path: Path) -> None:
    labels = encode(LABELS)
    train_x, train_y = _dataset(encode, TRAIN)
    registry = HeadRegistry(tmp_path)
    first = registry.save("topics", "minilm", LABELS, *train_head(train_x, train_y, labels, epochs=5))
    second = registry.save("topics", "minilm", LABELS, *train_head(train_x, train_y, labels, epochs=30))
    assert (first.version, second.version) == (1, 2)

    reloaded = HeadRegistry(tmp_path)
    reloaded.load_all()
    assert reloaded.get("topics").version == 2
    assert reloaded.get("topics@v1").version == 1
    sample = train_x[0]
    assert reloaded.get("topics@v2").fuse(sample) == pytest.approx(second.fuse(sample), abs=1e-6)
    with pytest.raises(NotFound):
        reloaded.get("topics@v9")
    with pytest.raises(NotFound):
        reloaded.get("missing")
