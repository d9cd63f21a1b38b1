"""CTC speech models in transformers form (wav2vec2, HuBERT, ...): ``AutoModelForCTC``, greedy decoding.

Recordings are cut into windows (``chunk_s``, 30 s by default) so that memory stays bounded; each window is
one segment, and word timestamps come from the CTC frame offsets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from services.audio.backends.base import AudioBackend, windows
from services.audio.items import Segment, Transcript, TranscriptionItem, Word


class HfCtcBackend(AudioBackend):
    """Options: chunk_s (30), language (the one language the model was trained on, e.g. en; optional)."""

    tasks = frozenset({"transcribe"})
    supports_word_timestamps = True

    def load(self) -> None:
        from transformers import AutoModelForCTC, AutoProcessor

        source = self.model_dir()
        self.processor = AutoProcessor.from_pretrained(source)
        model = AutoModelForCTC.from_pretrained(source, dtype=self.placement.dtype)
        self.model = model.to(self.placement.device).eval()
        self.sampling_rate = int(self.processor.feature_extractor.sampling_rate)
        self.window = int(float(self.spec.options.get("chunk_s", 30.0)) * self.sampling_rate)
        self.seconds_per_frame = float(self.model.config.inputs_to_logits_ratio) / self.sampling_rate

    def supported_languages(self) -> Sequence[str] | None:
        language = self.spec.options.get("language")
        return [str(language)] if language else None

    def warmup(self) -> None:
        self._decode(np.zeros(self.sampling_rate, dtype=np.float32))

    def _decode(self, piece: np.ndarray) -> Any:
        import torch

        inputs = self.processor(piece, sampling_rate=self.sampling_rate, return_tensors="pt")
        values = inputs.input_values.to(self.placement.device, self.placement.dtype)
        with torch.inference_mode():
            ids = self.model(values).logits.argmax(dim=-1)[0].cpu()
        return self.processor.tokenizer.decode(ids, output_word_offsets=True)

    def transcribe_one(self, item: TranscriptionItem) -> Transcript:
        segments: list[Segment] = []
        for offset, piece in windows(item.samples, self.window):
            item.check_deadline(self.name)
            decoded = self._decode(piece)
            if not str(decoded.text).strip():
                continue
            start_s, length_s = offset / self.sampling_rate, len(piece) / self.sampling_rate
            words = [Word(start=start_s + min(w["start_offset"] * self.seconds_per_frame, length_s),
                          end=start_s + min(w["end_offset"] * self.seconds_per_frame, length_s), word=w["word"])
                     for w in decoded.word_offsets]
            segments.append(Segment(id=len(segments), start=start_s, end=start_s + length_s,
                                    text=str(decoded.text), words=words if item.options.word_timestamps else None))
        return Transcript(language=self.spec.options.get("language"), duration=item.duration_s, segments=segments)
