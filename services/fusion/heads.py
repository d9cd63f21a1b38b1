"""Learned intermediate fusion: a small gated head over per-modality vectors of one shared space.

For modality vectors x_m (unit length, in space F) the head computes gates a = softmax_m(u_m . x_m + c_m) over
the modalities present and the fused vector y = n(sum_m a_m x_m); untrained (u = 0, c = 0) it is the plain
mean. Gates that depend on the vector let it trust a modality more for some inputs than others; a convex
combination keeps y in the space the labels live in, so a few examples do not overfit it. It is trained on
labelled examples against the text vectors of the labels in F (cross-entropy over cosine / temperature), so it
learns which modality to trust. Heads are saved as
``<data_dir>/heads/<name>/v<N>.pt`` (state) + ``v<N>.json`` (space, labels, metrics) and loaded at start.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from servekit.catalog import MODALITIES
from servekit.errors import InvalidInput, NotFound

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
_VERSION_FILE = re.compile(r"^v(\d+)\.json$")
TEMPERATURE = 0.05


class GatedFusionHead(nn.Module):
    """One gate per modality (a linear score of its vector) and the gated sum."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        gates = {str(m): nn.Linear(dim, 1) for m in MODALITIES}
        for gate in gates.values():
            nn.init.zeros_(gate.weight)
            nn.init.zeros_(gate.bias)
        self.gates = nn.ModuleDict(gates)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x``: [batch, modalities, dim] unit vectors, ``mask``: [batch, modalities] (True = present)."""
        logits = torch.stack([self.gates[m](x[:, i]).squeeze(-1) for i, m in enumerate(MODALITIES)], dim=1)
        weights = torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=1)
        return nn.functional.normalize((weights.unsqueeze(-1) * x).sum(dim=1), dim=-1)


def stack(features: Sequence[Mapping[str, np.ndarray]], dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-example modality -> vector maps as the head's [batch, 3, dim] input and presence mask."""
    x = torch.zeros(len(features), len(MODALITIES), dim)
    mask = torch.zeros(len(features), len(MODALITIES), dtype=torch.bool)
    for row, vectors in enumerate(features):
        for col, modality in enumerate(MODALITIES):
            if modality in vectors:
                x[row, col] = torch.as_tensor(vectors[modality], dtype=torch.float32)
                mask[row, col] = True
    return x, mask


@dataclass
class TrainedHead:
    name: str
    version: int
    space: str
    dim: int
    labels: list[str]
    metrics: dict[str, float]
    created: int
    module: GatedFusionHead

    def fuse(self, vectors: Mapping[str, np.ndarray]) -> np.ndarray:
        x, mask = stack([vectors], self.dim)
        with torch.inference_mode():
            scores: np.ndarray = self.module(x, mask)[0].double().numpy()
        return scores

    def describe(self) -> dict[str, Any]:
        return {"object": "fusion_head", "id": f"{self.name}@v{self.version}", "name": self.name,
                "version": self.version, "space": self.space, "dimensions": self.dim, "labels": self.labels,
                "metrics": self.metrics, "created": self.created}


def accuracy(fused: torch.Tensor, label_matrix: torch.Tensor, targets: torch.Tensor) -> float:
    return float((fused @ label_matrix.T).argmax(dim=1).eq(targets).float().mean())


def train_head(features: Sequence[Mapping[str, np.ndarray]], targets: Sequence[int], label_vectors: np.ndarray,
               *, epochs: int, seed: int = 0, lr: float = 0.01) -> tuple[GatedFusionHead, dict[str, float]]:
    """Fit a head so that fused vectors land nearest their label's vector; full-batch Adam."""
    torch.manual_seed(seed)
    dim = int(label_vectors.shape[1])
    x, mask = stack(features, dim)
    labels = nn.functional.normalize(torch.as_tensor(label_vectors, dtype=torch.float32), dim=-1)
    y = torch.as_tensor(list(targets), dtype=torch.long)
    head = GatedFusionHead(dim)
    with torch.no_grad():
        before = accuracy(head(x, mask), labels, y)
    optimiser = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=1e-4)
    loss = torch.tensor(0.0)
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(head(x, mask) @ labels.T / TEMPERATURE, y)
        loss.backward()
        optimiser.step()
    head.eval()
    with torch.no_grad():
        after = accuracy(head(x, mask), labels, y)
    return head, {"train_accuracy": after, "untrained_train_accuracy": before, "final_loss": loss.item()}


def check_head_name(name: str) -> None:
    if not _NAME.match(name):
        raise InvalidInput("head names are 1-63 letters, digits, '.', '_' or '-'", param="name",
                           code="invalid_head_name")


class HeadRegistry:
    """The trained heads under ``<data_dir>/heads``: every version loaded, newest by default."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._heads: dict[str, dict[int, TrainedHead]] = {}
        self._lock = threading.Lock()

    def load_all(self) -> None:
        """Load every saved head version (at start, and when a request names one not yet seen)."""
        if not self.root.is_dir():
            return
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for meta_path in folder.glob("v*.json"):
                match = _VERSION_FILE.match(meta_path.name)
                if match and int(match.group(1)) not in self._heads.get(folder.name, {}):
                    self._add(self._read(folder.name, int(match.group(1))))

    def _read(self, name: str, version: int) -> TrainedHead:
        meta = json.loads((self.root / name / f"v{version}.json").read_text())
        module = GatedFusionHead(int(meta["dimensions"]))
        module.load_state_dict(torch.load(self.root / name / f"v{version}.pt", weights_only=True))
        module.eval()
        return TrainedHead(name, version, meta["space"], int(meta["dimensions"]), list(meta["labels"]),
                           dict(meta["metrics"]), int(meta["created"]), module)

    def _add(self, head: TrainedHead) -> None:
        with self._lock:
            self._heads.setdefault(head.name, {})[head.version] = head

    def save(self, name: str, space: str, labels: list[str], module: GatedFusionHead,
             metrics: dict[str, float]) -> TrainedHead:
        """Write the next version of ``name`` (state first, metadata last: a version exists once complete)."""
        check_head_name(name)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            existing = [int(m.group(1)) for p in folder.glob("v*.json") if (m := _VERSION_FILE.match(p.name))]
            version = max([*existing, *self._heads.get(name, {})], default=0) + 1
            dim = module.dim
            head = TrainedHead(name, version, space, dim, labels, metrics, int(time.time()), module)
            torch.save(module.state_dict(), folder / f"v{version}.pt")
            meta = {k: v for k, v in head.describe().items() if k not in ("object", "id")}
            temporary = folder / f".v{version}.json.tmp"
            temporary.write_text(json.dumps(meta))
            temporary.replace(folder / f"v{version}.json")
        self._add(head)
        return head

    def get(self, reference: str) -> TrainedHead:
        """``name`` (newest version) or ``name@vN``; 404 when unknown."""
        name, _, version = reference.partition("@")
        head = self._lookup(name, version)
        if head is None:
            self.load_all()
            head = self._lookup(name, version)
        if head is None:
            raise NotFound(f"no fusion head {reference!r}", param="head", code="head_not_found")
        return head

    def _lookup(self, name: str, version: str) -> TrainedHead | None:
        versions = self._heads.get(name, {})
        if not versions:
            return None
        if not version:
            return versions[max(versions)]
        number = version[1:] if version.startswith("v") else version
        return versions.get(int(number)) if number.isdigit() else None

    def list(self) -> list[TrainedHead]:
        return [v[n] for v in self._heads.values() for n in sorted(v)]
