"""The CLAP audio tower windows long recordings deterministically (its text partner: tests/unit/text)."""

from __future__ import annotations

import numpy as np

from services.audio.backends.clap import ClapAudioBackend
from services.text.backends.clap import ClapTextEmbedder
from tests.support.media import SENTENCES, speech_at


def test_long_audio_is_windowed_deterministically(towers: tuple[ClapAudioBackend, ClapTextEmbedder]) -> None:
    audio_tower, _ = towers
    long_clip = np.concatenate([speech_at(SENTENCES[i], 48000) for i in range(4)])  # longer than the 10 s window
    assert len(long_clip) > audio_tower.window
    first, second = audio_tower.predict("embed", [long_clip, long_clip])
    assert np.allclose(first, second) and abs(np.linalg.norm(first) - 1) < 1e-5
    window_vectors = audio_tower._embed_pieces([long_clip[: audio_tower.window], long_clip[audio_tower.window:]])
    assert not np.allclose(first, window_vectors[0], atol=1e-4)  # the second window counts too
