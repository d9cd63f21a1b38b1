"""The CLAP audio tower (``ClapAudioModelWithProjection``): audio vectors in CLAP's joint audio-text space.

Space ``clap:<source>``, the same id as the text service's ``clap-text`` tower of that checkpoint, so the two
kinds of vectors are comparable. Recordings longer than the model's window (10 s for LAION's checkpoints)
are cut into windows whose unit vectors are averaged by length: deterministic, unlike random cropping.
"""

from __future__ import annotations

import numpy as np

from services.audio.backends.base import AudioBackend, unit, windows


class ClapAudioBackend(AudioBackend):
    """Options: max_windows_per_pass (16)."""

    tasks = frozenset({"embed"})
    space_family = "clap"

    def load(self) -> None:
        from transformers import AutoFeatureExtractor, ClapAudioModelWithProjection

        source = self.model_dir()
        self.extractor = AutoFeatureExtractor.from_pretrained(source)
        model = ClapAudioModelWithProjection.from_pretrained(source, dtype=self.placement.dtype)
        self.model = model.to(self.placement.device).eval()  # type: ignore[arg-type]  # transformers' stubs
        self.sampling_rate = int(self.extractor.sampling_rate)
        self.window = int(self.extractor.nb_max_samples)
        self.dimensions = int(self.model.config.projection_dim)
        self.max_windows = int(self.spec.options.get("max_windows_per_pass", 16))

    def warmup(self) -> None:
        self.embed([np.zeros(self.sampling_rate, dtype=np.float32)])

    def _embed_pieces(self, pieces: list[np.ndarray]) -> np.ndarray:
        """Unit vectors [N, D] of pieces no longer than one window."""
        import torch

        features = self.extractor(pieces, sampling_rate=self.sampling_rate, return_tensors="pt")
        inputs = {k: v.to(self.placement.device) for k, v in features.items()}
        inputs["input_features"] = inputs["input_features"].to(self.placement.dtype)
        with self.stage("forward", len(pieces)), torch.inference_mode():
            embeds = self.model(**inputs).audio_embeds.float()
        return torch.nn.functional.normalize(embeds, p=2, dim=-1).cpu().numpy()

    def embed(self, items: list[np.ndarray]) -> list[np.ndarray]:
        pieces = [(owner, piece) for owner, audio in enumerate(items) for _, piece in windows(audio, self.window)]
        sums = [np.zeros(self.dimensions, dtype=np.float64) for _ in items]
        for start in range(0, len(pieces), self.max_windows):
            chunk = pieces[start:start + self.max_windows]
            vectors = self._embed_pieces([piece for _, piece in chunk])
            for (owner, piece), vector in zip(chunk, vectors, strict=True):
                sums[owner] += vector * len(piece)
        return [unit(total.astype(np.float32)) for total in sums]
