"""Training a fusion head from labelled examples of any modalities, shared by the endpoint and the CLI.

From the command line:

    python -m services.fusion.training --name topics --examples examples.jsonl [--epochs 200]

Each line of the examples file is a JSON object ``{"text"?, "image"?, "audio"?, "label"}`` (image and audio as
base64 or data: URIs, or ``"image_path"`` / ``"audio_path"`` naming a file). The encoders are reached and the head
saved where the ``FUSION_*`` settings say; a running fusion service picks the new version up on first use.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from servekit.errors import ApiError, InvalidInput, UnprocessableInput
from servekit.items import about_item
from services.fusion.classification import embed_labels
from services.fusion.features import Extraction
from services.fusion.heads import TrainedHead, check_head_name, train_head
from services.fusion.inputs import Inputs
from services.fusion.runtime import FusionRuntime
from services.fusion.settings import FusionSettings
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


def _media(entry: dict[str, Any], modality: str, base: Path) -> str | None:
    if entry.get(modality) is not None:
        return str(entry[modality])
    path = entry.get(f"{modality}_path")
    return base64.b64encode((base / path).read_bytes()).decode("ascii") if path else None


def read_examples(path: Path) -> list[tuple[Inputs, str]]:
    """The labelled examples of a JSON-lines file (paths relative to the file's folder)."""
    examples = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        entry = json.loads(line)
        if "label" not in entry:
            raise ValueError(f"{path}:{number}: every example needs a label")
        inputs = Inputs(entry.get("text"), _media(entry, "image", path.parent), _media(entry, "audio", path.parent))
        if not inputs.modalities():
            raise ValueError(f"{path}:{number}: give text, image or audio")
        examples.append((inputs, str(entry["label"])))
    return examples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="head name; each run saves its next version")
    parser.add_argument("--examples", required=True, type=Path, help="JSON-lines file of labelled examples")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default FUSION_HEAD_EPOCHS)")
    args = parser.parse_args(argv)
    runtime = FusionRuntime.build(FusionSettings())
    try:
        head = train_from_examples(runtime, args.name, read_examples(args.examples), args.epochs)
    except (ApiError, ValueError) as error:
        print(f"training failed: {getattr(error, 'message', error)}", file=sys.stderr)
        return 1
    finally:
        runtime.close()
    print(json.dumps(head.describe(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
