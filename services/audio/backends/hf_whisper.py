"""Whisper in transformers form (``WhisperForConditionalGeneration``), by hub id or local folder.

Recordings are cut into 30 s windows (Whisper's input size) that are decoded in batches with timestamp
tokens; segment times are the decoded offsets shifted by each window's start. The language is the one
asked for, or detected on the first window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from services.audio.backends.base import AudioBackend, windows
from services.audio.items import Segment, Transcript, TranscriptionItem


class HfWhisperBackend(AudioBackend):
    """Options: max_new_tokens (128), windows_per_pass (8)."""

    tasks = frozenset({"transcribe"})

    def load(self) -> None:
        from transformers import AutoProcessor, WhisperForConditionalGeneration

        source = self.model_dir()
        self.processor = AutoProcessor.from_pretrained(source)
        model = WhisperForConditionalGeneration.from_pretrained(source, dtype=self.placement.dtype)
        self.model = model.to(self.placement.device).eval()  # type: ignore[arg-type]  # transformers' stubs
        extractor = self.processor.feature_extractor
        self.sampling_rate = int(extractor.sampling_rate)
        self.window = int(extractor.n_samples)
        self.max_new_tokens = int(self.spec.options.get("max_new_tokens", 128))
        self.windows_per_pass = int(self.spec.options.get("windows_per_pass", 8))
        lang_to_id = getattr(self.model.generation_config, "lang_to_id", None) or {}
        self.id_to_language = {token_id: token.strip("<|>") for token, token_id in lang_to_id.items()}

    def warmup(self) -> None:
        self._generate([np.zeros(self.sampling_rate, dtype=np.float32)], "en", None, None)

    def supported_languages(self) -> Sequence[str] | None:
        return sorted(self.id_to_language.values()) or None

    def _features(self, pieces: list[np.ndarray]) -> Any:
        features = self.processor.feature_extractor(pieces, sampling_rate=self.sampling_rate, return_tensors="pt")
        return features.input_features.to(self.placement.device, self.placement.dtype)

    def detect_language(self, piece: np.ndarray) -> str | None:
        import torch

        if not self.id_to_language:
            return None
        with torch.inference_mode():
            token_ids = self.model.detect_language(self._features([piece]))
        return self.id_to_language.get(int(token_ids[0]))

    def _generate(self, pieces: list[np.ndarray], language: str | None, prompt: str | None,
                  temperature: float | None) -> list[dict[str, Any]]:
        """Decoded windows: ``{"text", "offsets": [{"text", "timestamp": (start, end)}]}`` each."""
        import torch

        kwargs: dict[str, Any] = {"return_timestamps": True, "max_new_tokens": self.max_new_tokens}
        if language and self.id_to_language:
            kwargs.update(language=language, task="transcribe")
        if prompt:
            kwargs["prompt_ids"] = torch.as_tensor(self.processor.get_prompt_ids(prompt)).to(self.placement.device)
        if temperature:
            kwargs.update(do_sample=True, temperature=temperature)
        with torch.inference_mode():
            ids = self.model.generate(self._features(pieces), **kwargs)
        tokenizer = self.processor.tokenizer
        decoded = [tokenizer.decode(seq, skip_special_tokens=True, output_offsets=True) for seq in ids]
        return [{"text": d["text"], "offsets": d.get("offsets") or []} for d in decoded]

    def transcribe_one(self, item: TranscriptionItem) -> Transcript:
        options = item.options
        pieces = windows(item.samples, self.window)
        language = options.language or self.detect_language(pieces[0][1])
        segments: list[Segment] = []
        for start in range(0, len(pieces), self.windows_per_pass):
            item.check_deadline(self.name)
            chunk = pieces[start:start + self.windows_per_pass]
            decoded = self._generate([p for _, p in chunk], language, options.prompt, options.temperature)
            for (offset, piece), window in zip(chunk, decoded, strict=True):
                segments.extend(_window_segments(window, offset / self.sampling_rate,
                                                 len(piece) / self.sampling_rate, len(segments)))
        return Transcript(language=language, duration=item.duration_s, segments=segments)


def _window_segments(window: dict[str, Any], offset_s: float, length_s: float, first_id: int) -> list[Segment]:
    """Segments of one decoded window in recording time, clamped to the window, in order."""
    spans = window["offsets"] or [{"text": window["text"], "timestamp": (0.0, length_s)}]
    segments: list[Segment] = []
    cursor = 0.0
    for span in spans:
        text = str(span["text"])
        if not text.strip():
            continue
        start, end = span["timestamp"]
        start = min(max(float(start if start is not None else cursor), cursor), length_s)
        end = min(max(float(end if end is not None else length_s), start), length_s)
        segments.append(Segment(id=first_id + len(segments), start=offset_s + start, end=offset_s + end, text=text))
        cursor = end
    return segments
