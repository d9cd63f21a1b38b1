"""Whisper on CTranslate2 (faster-whisper): transcription, and embeddings from the encoder states.

Transcription runs over the whole recording (longer than 30 s included): faster-whisper's Silero VAD finds the
speech, and with ``batched`` (default) its batched pipeline decodes up to ``batch_size`` speech chunks per pass.
Embeddings are the encoder's hidden states mean-pooled over the frames that hold audio (windows of 30 s
averaged by length), unit-normalised: a real-weights audio embedding, good for audio-to-audio similarity
(it is not aligned with any text space).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from services.audio.backends.base import AudioBackend, unit, windows
from services.audio.items import Segment, Transcript, TranscriptionItem, Word

WINDOW_SAMPLES = 30 * 16000
FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


class FasterWhisperBackend(AudioBackend):
    """Options: compute_type (int8 on CPU, float16 on CUDA), cpu_threads, beam_size (5), batched (true),
    batch_size (8), vad_filter (true), embed_batch_windows (8)."""

    tasks = frozenset({"transcribe", "embed"})
    space_family = "whisper-encoder"
    supports_word_timestamps = True

    def load(self) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        options = self.spec.options
        cuda = self.placement.is_cuda
        self.model = WhisperModel(
            self.model_dir(),
            device="cuda" if cuda else "cpu",
            device_index=int(self.placement.device.partition(":")[2] or 0),
            compute_type=str(options.get("compute_type", self.placement.dtype_name if cuda else "int8")),
            cpu_threads=int(options.get("cpu_threads", 0)),
            local_files_only=True,
        )
        self.pipeline = BatchedInferencePipeline(self.model) if options.get("batched", True) else None
        self.batch_size = int(options.get("batch_size", 8))
        self.beam_size = int(options.get("beam_size", 5))
        self.vad_filter = bool(options.get("vad_filter", True))
        self.embed_windows = int(options.get("embed_batch_windows", 8))
        self.sampling_rate = int(self.model.feature_extractor.sampling_rate)
        self.dimensions = int(self._encode([np.zeros(self.sampling_rate, dtype=np.float32)]).shape[-1])

    def warmup(self) -> None:
        # VAD would skip silence: decode one second without it so that the decoder really runs.
        segments, _ = self.model.transcribe(np.zeros(self.sampling_rate, dtype=np.float32), beam_size=1,
                                            vad_filter=False, language="en")
        list(segments)

    def supported_languages(self) -> Sequence[str]:
        return list(self.model.supported_languages)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "batched": self.pipeline is not None}

    # -- transcription -------------------------------------------------------------------------------
    def transcribe_one(self, item: TranscriptionItem) -> Transcript:
        options = item.options
        temperature = (options.temperature,) if options.temperature else FALLBACK_TEMPERATURES
        kwargs: dict[str, Any] = dict(language=options.language, initial_prompt=options.prompt,
                                      word_timestamps=options.word_timestamps, beam_size=self.beam_size,
                                      temperature=list(temperature), vad_filter=self.vad_filter)
        if self.pipeline is not None and self.vad_filter:
            found, info = self.pipeline.transcribe(item.samples, batch_size=self.batch_size, **kwargs)
        else:
            found, info = self.model.transcribe(item.samples, **kwargs)
        segments: list[Segment] = []
        for raw in found:
            item.check_deadline(self.name)
            segments.append(_segment(len(segments), raw))
            item.finished(segments[-1])
        return Transcript(language=info.language, duration=item.duration_s, segments=segments)

    # -- embeddings ----------------------------------------------------------------------------------
    def _encode(self, pieces: list[np.ndarray]) -> np.ndarray:
        """Encoder states [B, 1500, D] of up-to-30 s pieces (zero-padded, as Whisper was trained)."""
        from faster_whisper.audio import pad_or_trim

        extractor = self.model.feature_extractor
        features = np.stack([
            pad_or_trim(extractor(np.pad(p, (0, max(0, WINDOW_SAMPLES - len(p)))))[..., :extractor.nb_max_frames])
            for p in pieces
        ]).astype(np.float32)
        return np.asarray(self.model.encode(features), dtype=np.float32)

    def embed(self, items: list[np.ndarray]) -> list[np.ndarray]:
        pieces: list[tuple[int, np.ndarray]] = [(owner, piece) for owner, audio in enumerate(items)
                                                for _, piece in windows(audio, WINDOW_SAMPLES)]
        sums = [np.zeros(self.dimensions, dtype=np.float64) for _ in items]
        weights = [0 for _ in items]
        for start in range(0, len(pieces), self.embed_windows):
            chunk = pieces[start:start + self.embed_windows]
            with self.stage("forward", len(chunk)):
                states = self._encode([piece for _, piece in chunk])
            for (owner, piece), state in zip(chunk, states, strict=True):
                # Two mel frames (2 x 10 ms) per encoder position: pool only positions that hold audio.
                frames = max(1, min(state.shape[0], math.ceil(len(piece) / 320)))
                sums[owner] += state[:frames].sum(axis=0)
                weights[owner] += frames
        return [unit((total / max(1, count)).astype(np.float32)) for total, count in zip(sums, weights, strict=True)]


def _segment(index: int, raw: Any) -> Segment:
    words = None
    if raw.words is not None:
        words = [Word(start=float(w.start), end=float(w.end), word=w.word, probability=float(w.probability))
                 for w in raw.words]
    extra = {"seek": int(raw.seek), "tokens": list(raw.tokens), "temperature": raw.temperature,
             "avg_logprob": float(raw.avg_logprob), "compression_ratio": float(raw.compression_ratio),
             "no_speech_prob": float(raw.no_speech_prob)}
    return Segment(id=index, start=float(raw.start), end=float(raw.end), text=raw.text, words=words, extra=extra)
