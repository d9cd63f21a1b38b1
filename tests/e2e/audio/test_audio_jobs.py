"""A recording over the synchronous limit: refused by the synchronous route with a clear 413, transcribed
completely as an asynchronous job (Redis, the gateway's job worker, the audio service, all real processes)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.support.gateway import gateway_over
from tests.support.media import encode_audio, long_recording, word_error_rate
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

KEY = "sk-audio-jobs"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def gateway() -> Iterator[ServiceProcess]:
    with gateway_over({"audio": {"AUDIO_THREADS": "4", "AUDIO_MAX_SYNC_DURATION_S": "30"}}, api_keys=KEY,
                      jobs=True) as stack:
        yield stack.gateway


def test_long_recording_goes_through_a_job(gateway: ServiceProcess) -> None:
    speech, spans = long_recording()
    files = {"file": ("long.flac", encode_audio(speech.samples, speech.sample_rate, "flac"), "audio/flac")}
    refused = requests.post(f"{gateway.url}/v1/audio/transcriptions", headers=AUTH, files=files, timeout=60)
    assert refused.status_code == 413 and refused.json()["error"]["code"] == "audio_too_long_for_sync"

    submitted = requests.post(f"{gateway.url}/v1/jobs/audio/transcriptions", headers=AUTH, files=files,
                              data={"response_format": "verbose_json"}, timeout=60)
    assert submitted.status_code == 202, submitted.text
    status_url = gateway.url + submitted.json()["status_url"]
    deadline = time.monotonic() + 300
    status = submitted.json()
    while status["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(1.0)
        status = requests.get(status_url, headers=AUTH, timeout=10).json()
    assert status["status"] == "succeeded", status
    result = requests.get(gateway.url + status["result_url"], headers=AUTH, timeout=10).json()
    assert result["duration"] > 60
    assert word_error_rate([speech.text], [result["text"]]) <= 0.15
    assert result["segments"][-1]["end"] > spans[-1][1] - 2.0
