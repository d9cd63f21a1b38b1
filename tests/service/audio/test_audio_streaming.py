"""Streamed transcription: ``stream=true`` gives OpenAI's ``transcript.text.delta`` events segment by segment,
then ``transcript.text.done``, from the audio service and through the gateway (official ``openai`` client)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import requests
from flask import Flask

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from tests.support.inprocess import serve_app
from tests.support.media import LONG_SENTENCES, join, synthesize, wav_bytes
from tests.support.processes import free_port

KEY = "sk-stream"


@pytest.fixture(scope="module")
def speech() -> bytes:
    recording = join([synthesize(text) for text, _ in LONG_SENTENCES[:9]], pause_s=1.0)  # past 30 s: two speech chunks
    return wav_bytes(recording.samples, recording.sample_rate)


@pytest.fixture(scope="module")
def urls(whisper_base_app: Flask) -> Iterator[tuple[str, str]]:
    with serve_app(whisper_base_app) as audio_url:
        settings = GatewaySettings(api_keys=KEY, audio_url=audio_url, rate_limits_enabled=False,
                                   request_timeout_s=300, text_url=f"http://127.0.0.1:{free_port()}")
        with serve_app(create_gateway(settings)) as gateway_url:
            yield gateway_url, audio_url


def events(response: requests.Response) -> list[dict[str, Any]]:
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return [json.loads(line.decode().removeprefix("data: ")) for line in response.iter_lines() if line]


def test_segments_stream_as_deltas_that_add_up_to_the_transcript(urls: tuple[str, str], speech: bytes) -> None:
    files = {"file": ("speech.wav", io.BytesIO(speech), "audio/wav")}
    whole = requests.post(f"{urls[1]}/v1/transcribe", files=files, timeout=300).json()["text"]
    files = {"file": ("speech.wav", io.BytesIO(speech), "audio/wav")}
    streamed = events(requests.post(f"{urls[1]}/v1/transcribe", files=files, data={"stream": "true"}, stream=True,
                                    timeout=300))
    types = [item["type"] for item in streamed]
    assert types.count("transcript.text.delta") >= 2 and types[-1] == "transcript.text.done"
    assert set(types[:-1]) == {"transcript.text.delta"}
    assert "".join(item["delta"] for item in streamed[:-1]) == streamed[-1]["text"] == whole
    for key in ("museum", "tomatoes", "orchestra"):
        assert key in whole.lower()


def test_openai_client_streams_through_the_gateway(urls: tuple[str, str], speech: bytes) -> None:
    client = openai.OpenAI(base_url=f"{urls[0]}/v1", api_key=KEY, max_retries=0)
    stream = client.audio.transcriptions.create(model="whisper-base", file=("speech.wav", speech), stream=True)
    received = list(stream)
    assert [event.type for event in received][-1] == "transcript.text.done"
    deltas = [event.delta for event in received if event.type == "transcript.text.delta"]
    assert len(deltas) >= 2 and "".join(deltas) == received[-1].text  # type: ignore[union-attr]


def test_subtitle_formats_do_not_stream(urls: tuple[str, str], speech: bytes) -> None:
    response = requests.post(f"{urls[0]}/v1/audio/transcriptions", headers={"Authorization": f"Bearer {KEY}"},
                             files={"file": ("speech.wav", io.BytesIO(speech), "audio/wav")},
                             data={"stream": "true", "response_format": "srt"}, timeout=60)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_stream_format"
