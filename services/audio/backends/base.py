"""What audio backends share: the two tasks (transcribe, embed), option checks and per-item failures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from servekit.errors import InvalidInput
from servekit.models import ModelBackend
from services.audio.settings import default_cache_dir
from services.audio.transcript import TranscribeOptions, Transcript, TranscriptionJob
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

    def transcribe(self, job: TranscriptionJob) -> Transcript:
        """One recording -> its transcript (backends that list ``transcribe``)."""
        raise NotImplementedError

    def embed_batch(self, items: list[np.ndarray]) -> list[np.ndarray]:
        """Recordings -> unit vectors, one per recording (backends that list ``embed``)."""
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        info = {**super().info(), "sampling_rate": self.sampling_rate}
        if "embed" in self.tasks:
            info.update(dimensions=self.dimensions, normalized=True, truncatable=False)
        if "transcribe" in self.tasks:
            info.update(word_timestamps=self.supports_word_timestamps,
                        languages=list(self.supported_languages() or []))
        return info

    def predict(self, task: str, items: list[Any]) -> list[Any]:
        if task == "embed":
            with self.stage("forward", len(items)):
                return list(self.embed_batch(items))
        if task != "transcribe":
            raise InvalidInput(f"unsupported task {task}")
        results: list[Any] = []
        for job in items:
            try:
                job.check_deadline(self.name)  # a recording whose caller gave up while it waited costs nothing
                with self.stage("forward", 1):
                    results.append(self.transcribe(job))
            except Exception as exc:  # noqa: BLE001 - fails this recording only
                results.append(exc)
        return results


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


def windows(samples: np.ndarray, size: int) -> list[tuple[int, np.ndarray]]:
    """(start sample, piece) of consecutive fixed windows; the last may be shorter."""
    return [(start, samples[start:start + size]) for start in range(0, max(len(samples), 1), size)]
