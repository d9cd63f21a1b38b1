"""CLAP across two services: the text service's clap-text and the audio service's clap-audio, configured with
one checkpoint folder, answer the same space id, and their vectors compare as ClapModel compares them."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
import torch

from servekit.models import ModelSpec
from services.audio.app import create_app as create_audio_app
from services.audio.settings import AudioSettings
from services.text.app import create_app as create_text_app
from services.text.settings import TextSettings
from tests.support.media import SENTENCES, encode_audio, resample, synthesize
from tests.support.tiny_models import tiny_clap


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_clap(tmp_path_factory.mktemp("clap"))


def test_text_and_audio_vectors_share_a_space_and_match_clap_model(clap_dir: Path) -> None:
    from transformers import AutoFeatureExtractor, AutoTokenizer, ClapModel

    source = str(clap_dir)
    text_app = create_text_app(TextSettings(models=[ModelSpec(name="clap", backend="clap-text", source=source)]),
                               load_in_background=False)
    audio_app = create_audio_app(AudioSettings(models=[ModelSpec(name="clap", backend="clap-audio", source=source)]),
                                 load_in_background=False)
    captions = ["someone reading a sentence aloud", "birds singing at dawn"]
    speech = [synthesize(SENTENCES[i]) for i in (0, 2)]
    clips = [base64.b64encode(encode_audio(s.samples, s.sample_rate, "flac")).decode() for s in speech]

    text_body = text_app.test_client().post("/v1/embed", json={"input": captions}).get_json()
    audio_body = audio_app.test_client().post("/v1/embed", json={"input": clips}).get_json()
    assert text_body["space"] == audio_body["space"] == f"clap:{source}"
    text_vectors = np.array([d["embedding"] for d in text_body["data"]])
    audio_vectors = np.array([d["embedding"] for d in audio_body["data"]])

    model = ClapModel.from_pretrained(clap_dir).eval()
    # The service decoded FLAC and resampled to 48 kHz itself; do the same from the original samples here.
    waves = [resample(s.samples, s.sample_rate, 48000) for s in speech]
    features = AutoFeatureExtractor.from_pretrained(clap_dir)(waves, sampling_rate=48000, return_tensors="pt")
    tokens = AutoTokenizer.from_pretrained(clap_dir)(captions, padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], **features)
    assert np.allclose(text_vectors, out.text_embeds.numpy(), atol=1e-5)
    assert np.allclose(audio_vectors, out.audio_embeds.numpy(), atol=2e-3)  # FLAC is 16-bit: tiny differences
    similarity = model.logit_scale_t.exp().item() * text_vectors @ audio_vectors.T
    assert np.allclose(similarity, out.logits_per_text.numpy(), atol=0.05)
