"""The CLAP text tower (text service) and the audio tower it shares a space with agree with ClapModel run
in-process on the same checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from services.audio.backends.clap import ClapAudioBackend
from services.text.backends.clap import ClapTextEmbedder
from tests.support.media import SENTENCES, speech_at


def test_both_towers_share_one_space_id(towers: tuple[ClapAudioBackend, ClapTextEmbedder], clap_dir: Path) -> None:
    audio, text = towers
    assert audio.space == text.space == f"clap:{clap_dir}"
    assert audio.dimensions == text.dimensions == 16


def test_vectors_match_clap_model_in_process(towers: tuple[ClapAudioBackend, ClapTextEmbedder],
                                             clap_dir: Path) -> None:
    from transformers import AutoFeatureExtractor, AutoTokenizer, ClapModel

    audio_tower, text_tower = towers
    clips = [speech_at(SENTENCES[0], 48000), speech_at(SENTENCES[1], 48000)]
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
