"""One item or query of the fusion API, apart from the feature extraction so that request models import light."""

from __future__ import annotations

from dataclasses import dataclass

from servekit.catalog import MODALITIES


@dataclass(frozen=True)
class Inputs:
    """One item or query: any mix of text, image (base64 / data URI) and audio (base64 / data URI)."""

    text: str | None = None
    image: str | None = None
    audio: str | None = None

    def modalities(self) -> list[str]:
        return [m for m in MODALITIES if getattr(self, m) is not None]
