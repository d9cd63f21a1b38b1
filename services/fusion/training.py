"""Training a fusion head from labelled examples of any modalities, shared by the endpoint and the CLI."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from servekit.errors import ApiError, InvalidInput, UnprocessableInput
from servekit.items import about_item
from services.fusion.classification import embed_labels
from services.fusion.features import Extraction, Inputs
from services.fusion.heads import TrainedHead, check_head_name, train_head
from services.fusion.runtime import FusionRuntime
from services.fusion.strategies import in_space


def training_space(extractions: Sequence[Extraction]) -> str:
    """The space in which the most (example, modality) vectors lie: where the head can see every modality."""
    counts = Counter(space for e in extractions for spaces in e.features.values() for space in spaces)
    if not counts:
        raise UnprocessableInput("no example gave a vector", param="examples", code="nothing_to_embed")
    return counts.most_common(1)[0][0]


def train_from_examples(rt: FusionRuntime, name: str, examples: Sequence[tuple[Inputs, str]],
                        epochs: int | None = None) -> TrainedHead:
    """Encode the examples (in parallel), embed their labels, fit the head and save its next version."""
    check_head_name(name)
    if len(examples) > rt.settings.max_training_examples:
        raise InvalidInput(f"at most {rt.settings.max_training_examples} examples per training run",
                           param="examples", code="too_many_examples")
    labels = sorted({label for _, label in examples})
    if len(labels) < 2:
        raise InvalidInput("examples need at least two different labels", param="examples", code="one_label")
    results = rt.extractor.extract([inputs for inputs, _ in examples])
    for index, result in enumerate(results):
        if isinstance(result, ApiError):
            raise about_item(result, "examples", index)
    extractions = [r for r in results if isinstance(r, Extraction)]
    space = training_space(extractions)
    label_features = embed_labels(rt, labels, {space})
    if any(space not in label_features[label]["text"] for label in labels):
        raise UnprocessableInput(f"no text model embeds labels in space {space!r}", code="no_shared_space")
    label_matrix = np.stack([label_features[label]["text"][space] for label in labels])
    features = [in_space(e.features, space) for e in extractions]
    targets = [labels.index(label) for _, label in examples]
    kept = [(f, t) for f, t in zip(features, targets, strict=True) if f]
    module, metrics = train_head([f for f, _ in kept], [t for _, t in kept], label_matrix,
                                 epochs=epochs or rt.settings.head_epochs)
    metrics = {**metrics, "examples": float(len(kept))}
    return rt.heads.save(name, space, labels, module, metrics)

