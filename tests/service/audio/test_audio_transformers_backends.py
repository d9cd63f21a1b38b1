"""The transformers backends (Whisper, CTC/wav2vec2, CLAP audio) through the audio service's real routes.

No offline weights exist for them: tiny random models of the same architectures are saved to a folder and
loaded by the service through ``from_pretrained``. Their words are noise; what is checked is everything
around the model: windowing of long audio, timestamps, formats, languages, errors, the embedding contract.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import srt
import webvtt
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from servekit.models import ModelSpec
from services.audio.app import create_app
from services.audio.settings import AudioSettings
from tests.support.media import SENTENCES, encode_audio, join, synthesize
from tests.support.tiny_models import tiny_clap, tiny_wav2vec2, tiny_whisper


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    root = tmp_path_factory.mktemp("tiny-audio-models")
    models = [
        ModelSpec(name="tiny-whisper", backend="whisper", source=str(tiny_whisper(root / "whisper")),
                  options={"max_new_tokens": 24}),
        ModelSpec(name="tiny-ctc", backend="ctc", source=str(tiny_wav2vec2(root / "ctc")),
                  options={"chunk_s": 10, "language": "en"}),
        ModelSpec(name="tiny-clap", backend="clap-audio", source=str(tiny_clap(root / "clap"))),
    ]
    app = create_app(AudioSettings(models=models, model_cache_dir=root / "cache"), load_in_background=False)
    assert app.extensions["pool"].ready
    return app.test_client()


@pytest.fixture(scope="module")
def long_flac() -> tuple[bytes, float]:
    """About 35 s of speech: more than one 30 s Whisper window and several 10 s CTC windows."""
    speech = join([synthesize(text) for text in SENTENCES[:6]] + [synthesize(SENTENCES[0])], pause_s=1.0)
    return encode_audio(speech.samples, speech.sample_rate, "flac"), speech.duration_s


def _vtt_seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _post(client: FlaskClient, data: bytes, **fields: object) -> TestResponse:
    return client.post("/v1/transcribe", data={"file": (io.BytesIO(data), "a.flac"), **fields},
                       content_type="multipart/form-data")


@pytest.mark.parametrize("model", ["tiny-whisper", "tiny-ctc"])
def test_long_audio_segments_cover_the_recording_in_order(client: FlaskClient, long_flac: tuple[bytes, float],
                                                          model: str) -> None:
    data, duration = long_flac
    response = _post(client, data, model=model, response_format="verbose_json", language="en")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["duration"] == pytest.approx(duration, abs=0.05) and body["language"] == "en"
    segments = body["segments"]
    assert all(0 <= s["start"] <= s["end"] <= duration + 0.01 for s in segments)
    assert all(a["start"] <= b["start"] for a, b in zip(segments, segments[1:], strict=False))
    assert [s["id"] for s in segments] == list(range(len(segments)))
    if model == "tiny-ctc":  # one segment per non-empty 10 s window; windows start on 10 s boundaries
        assert {round(s["start"]) % 10 for s in segments} == {0}
        assert segments and segments[-1]["start"] >= 30.0


def test_ctc_word_timestamps_lie_inside_their_window(client: FlaskClient, long_flac: tuple[bytes, float]) -> None:
    data, duration = long_flac
    body = _post(client, data, model="tiny-ctc", response_format="verbose_json",
                 **{"timestamp_granularities[]": "word"}).get_json()
    for segment in body["segments"]:
        for word in segment["words"]:
            assert segment["start"] <= word["start"] <= word["end"] <= segment["end"] + 1e-6


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_of_transformers_whisper_parse(client: FlaskClient, long_flac: tuple[bytes, float],
                                                 fmt: str) -> None:
    data, duration = long_flac
    response = _post(client, data, model="tiny-whisper", response_format=fmt)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    cues: list[Any] = list(srt.parse(text)) if fmt == "srt" else webvtt.from_string(text).captions
    ends = [c.end.total_seconds() if fmt == "srt" else _vtt_seconds(c.end) for c in cues]
    assert all(end <= duration + 0.01 for end in ends)


def test_whisper_detects_a_language_when_none_is_given(client: FlaskClient) -> None:
    speech = synthesize(SENTENCES[1])
    body = _post(client, encode_audio(speech.samples, speech.sample_rate, "wav"), model="tiny-whisper").get_json()
    languages = client.get("/v1/models").get_json()["data"][0]["languages"]
    assert body["language"] in languages and len(languages) == 99


@pytest.mark.parametrize(("fields", "code"), [
    ({"model": "tiny-whisper", "timestamp_granularities[]": "word"}, "unsupported_granularity"),
    ({"model": "tiny-whisper", "language": "qq"}, "unsupported_language"),
    ({"model": "tiny-ctc", "language": "de"}, "unsupported_language"),
    ({"model": "tiny-clap"}, "unsupported_task"),
])
def test_what_a_model_cannot_do_is_a_400(client: FlaskClient, fields: dict, code: str) -> None:
    response = _post(client, b"RIFF", **fields)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code


def test_clap_audio_embeddings_through_the_route(client: FlaskClient) -> None:
    clips = [synthesize(SENTENCES[i]) for i in (0, 1)]
    inputs = [base64.b64encode(encode_audio(c.samples, c.sample_rate, "ogg")).decode() for c in clips]
    body = client.post("/v1/embed", json={"model": "tiny-clap", "input": inputs}).get_json()
    assert body["space"].startswith("clap:") and body["dimensions"] == 16
    vectors = np.array([item["embedding"] for item in body["data"]])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5) and not np.allclose(vectors[0], vectors[1])
    whisper = client.post("/v1/embed", json={"model": "tiny-whisper", "input": inputs[:1]})
    assert whisper.status_code == 400 and whisper.get_json()["error"]["code"] == "unsupported_task"


def test_transformers_models_are_listed(client: FlaskClient, tmp_path: Path) -> None:
    models = {m["id"]: m for m in client.get("/v1/models").get_json()["data"]}
    assert models["tiny-whisper"]["tasks"] == ["transcribe"] and models["tiny-clap"]["tasks"] == ["embed"]
    assert models["tiny-clap"]["sampling_rate"] == 48000 and models["tiny-ctc"]["word_timestamps"] is True


def test_whisper_takes_a_prompt_and_a_sampling_temperature(client: FlaskClient) -> None:
    speech = synthesize(SENTENCES[0])
    response = _post(client, encode_audio(speech.samples, speech.sample_rate, "mp3"), model="tiny-whisper",
                     prompt="Foxes and dogs.", temperature="0.7", language="en", response_format="verbose_json")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["language"] == "en" and body["duration"] == pytest.approx(speech.duration_s, abs=0.1)
    assert "Foxes and dogs" not in body["text"]  # the prompt conditions the decoder, it is not transcribed
