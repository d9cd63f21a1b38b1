"""CLAP's two towers, served by two services, agree with ClapModel run in-process on the same checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from servekit.device import resolve_placement
from servekit.models import ModelSpec
from services.audio.backends.clap import ClapAudioBackend
from services.text.backends.clap import ClapTextEmbedder
from tests.audio_fixtures import SENTENCES, resample, synthesize
from tests.audio_tiny_models import tiny_clap


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_clap(tmp_path_factory.mktemp("tiny-clap"))


@pytest.fixture(scope="module")
def towers(clap_dir: Path) -> tuple[ClapAudioBackend, ClapTextEmbedder]:
    placement = resolve_placement("cpu")
    audio = ClapAudioBackend(ModelSpec(name="clap", backend="clap-audio", source=str(clap_dir)), placement)
    text = ClapTextEmbedder(ModelSpec(name="clap", backend="clap-text", source=str(clap_dir)), placement)
    audio.load()
    text.load()
    return audio, text


def _speech_48k(index: int) -> np.ndarray:
    speech = synthesize(SENTENCES[index])
    return resample(speech.samples, speech.sample_rate, 48000)


def test_both_towers_share_one_space_id(towers: tuple[ClapAudioBackend, ClapTextEmbedder], clap_dir: Path) -> None:
    audio, text = towers
    assert audio.space == text.space == f"clap:{clap_dir}"
    assert audio.dimensions == text.dimensions == 16


def test_vectors_match_clap_model_in_process(towers: tuple[ClapAudioBackend, ClapTextEmbedder],
                                             clap_dir: Path) -> None:
    from transformers import AutoFeatureExtractor, AutoTokenizer, ClapModel

    audio_tower, text_tower = towers
    clips = [_speech_48k(0), _speech_48k(1)]
    captions = ["a man speaking", "a dog barking in the rain"]
    served_audio = np.stack(audio_tower.predict("embed", clips))
    served_text = np.stack([vector for vector, _ in text_tower.predict("embed", captions)])

    model = ClapModel.from_pretrained(clap_dir).eval()
    features = AutoFeatureExtractor.from_pretrained(clap_dir)(clips, sampling_rate=48000, return_tensors="pt")
    tokens = AutoTokenizer.from_pretrained(clap_dir)(captions, padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], **features)
    assert np.allclose(served_audio, out.audio_embeds.numpy(), atol=1e-5)
    assert np.allclose(served_text, out.text_embeds.numpy(), atol=1e-5)
    # Comparable: the served vectors give ClapModel's own text-audio logits.
    scale = model.logit_scale_t.exp().item()
    assert np.allclose(scale * served_text @ served_audio.T, out.logits_per_text.numpy(), atol=1e-3)


def test_long_audio_is_windowed_deterministically(towers: tuple[ClapAudioBackend, ClapTextEmbedder]) -> None:
    audio_tower, _ = towers
    long_clip = np.concatenate([_speech_48k(i) for i in range(4)])  # longer than the 10 s window
    assert len(long_clip) > audio_tower.window
    first, second = audio_tower.predict("embed", [long_clip, long_clip])
    assert np.allclose(first, second) and abs(np.linalg.norm(first) - 1) < 1e-5
    window_vectors = audio_tower._embed_pieces([long_clip[: audio_tower.window], long_clip[audio_tower.window:]])
    assert not np.allclose(first, window_vectors[0], atol=1e-4)  # the second window counts too
