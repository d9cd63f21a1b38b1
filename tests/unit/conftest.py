"""Fixtures for unit tests that span two services: one tiny CLAP checkpoint whose towers two services serve."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.tiny_models import tiny_clap

if TYPE_CHECKING:
    from services.audio.backends.clap import ClapAudioBackend
    from services.text.backends.clap import ClapTextEmbedder


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_clap(tmp_path_factory.mktemp("tiny-clap"))


@pytest.fixture(scope="module")
def towers(clap_dir: Path) -> tuple[ClapAudioBackend, ClapTextEmbedder]:
    """The audio tower (audio service) and the text tower (text service) of the same CLAP checkpoint, loaded."""
    from servekit.device import resolve_placement
    from servekit.models import ModelSpec
    from services.audio.backends.clap import ClapAudioBackend
    from services.text.backends.clap import ClapTextEmbedder

    placement = resolve_placement("cpu")
    audio = ClapAudioBackend(ModelSpec(name="clap", backend="clap-audio", source=str(clap_dir)), placement)
    text = ClapTextEmbedder(ModelSpec(name="clap", backend="clap-text", source=str(clap_dir)), placement)
    audio.load()
    text.load()
    return audio, text
