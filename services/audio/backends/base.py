"""What audio backends share: the two tasks (transcribe, embed), option checks and per-item failures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from servekit.errors import InvalidInput
from servekit.models import ModelBackend
from services.audio.items import TranscribeOptions, Transcript, TranscriptionItem
from services.audio.settings import default_cache_dir
from services.audio.weights import resolve_model_dir


class AudioBackend(ModelBackend):
    """A model fed mono float32 audio at ``sampling_rate``; subclasses implement the tasks they list."""

    sampling_rate: int = 16000
    supports_word_timestamps: bool = False
    dimensions: int = 0

    def model_dir(self) -> str:
        """Where the weights are: hub id, folder, or a package's (assembled) folder."""
        cache = Path(str(self.spec.options.get("cache_dir") or default_cache_dir()))
        return resolve_model_dir(self.spec.source, cache)

    def supported_languages(self) -> Sequence[str] | None:
        """Languages a client may ask for; ``None`` means the model takes no language hint."""
        return None

    def check_options(self, options: TranscribeOptions) -> None:
        """400 for what this model cannot do, before any audio is decoded."""
        if options.word_timestamps and not self.supports_word_timestamps:
            raise InvalidInput(f"model {self.name!r} does not produce word timestamps",
                               param="timestamp_granularities", code="unsupported_granularity")
        languages = self.supported_languages()
        if options.language is not None and languages is not None and options.language not in languages:
            shown = ", ".join(list(languages)[:20]) + (", ..." if len(languages) > 20 else "")
            raise InvalidInput(f"model {self.name!r} does not support language {options.language!r}; "
                               f"supported: {shown}", param="language", code="unsupported_language")
        if options.language is not None and languages is None:
            raise InvalidInput(f"model {self.name!r} does not take a language", param="language",
                               code="unsupported_language")

    def transcribe(self, items: list[TranscriptionItem]) -> list[Any]:
        """Recordings -> transcripts, one at a time; a recording whose caller gave up while it waited costs
        nothing, and a failure fails only its recording."""
        def run(item: TranscriptionItem) -> Transcript:
            item.check_deadline(self.name)
            return self.transcribe_one(item)

        return self.each(items, run)

    def transcribe_one(self, item: TranscriptionItem) -> Transcript:
        """One recording -> its transcript (backends that list ``transcribe``)."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        info = {**super().info(), "sampling_rate": self.sampling_rate}
        if "embed" in self.tasks:
            info.update(dimensions=self.dimensions, normalized=True, truncatable=False)
        if "transcribe" in self.tasks:
            info.update(word_timestamps=self.supports_word_timestamps,
                        languages=list(self.supported_languages() or []))
        return info


def as_audio_backend(backend: ModelBackend) -> AudioBackend:
    """The pool's backend as the audio backend every audio registry entry is."""
    if not isinstance(backend, AudioBackend):  # a registry mistake, not the caller's
        raise TypeError(f"{backend.name} is not an audio backend")
    return backend


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


def windows(samples: np.ndarray, size: int) -> list[tuple[int, np.ndarray]]:
    """(start sample, piece) of consecutive fixed windows; the last may be shorter."""
    return [(start, samples[start:start + size]) for start in range(0, max(len(samples), 1), size)]
