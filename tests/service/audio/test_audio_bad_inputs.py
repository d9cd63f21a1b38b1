"""A corpus of bad audio: each gets the right 4xx (or a correct result), and the service stays ready."""

from __future__ import annotations

import base64
import io
import struct

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.media import (
    SENTENCES,
    encode_audio,
    photo_png,
    silence,
    spoken,
    synthesize,
    wav_bytes,
    word_error_rate,
)


@pytest.fixture(scope="module")
def client(whisper_base_app: Flask) -> FlaskClient:
    return whisper_base_app.test_client()


def _speech(fmt: str, channels: int = 1) -> bytes:
    return spoken(SENTENCES[0], fmt, channels=channels)


def _patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    patched = bytearray(data)
    patched[offset:offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(patched)


def _wav() -> bytes:
    speech = synthesize(SENTENCES[0])
    return wav_bytes(speech.samples, speech.sample_rate)


def _random_bytes() -> bytes:
    return np.random.default_rng(7).integers(0, 256, 64_000, dtype=np.uint8).tobytes()


# name -> (body, content type, expected status, expected error code)
BAD_FILES = {
    "zero_bytes": (lambda: b"", "audio/wav", 400, "empty_input"),
    "random_bytes_as_mp3": (_random_bytes, "audio/mpeg", 400, "invalid_audio"),
    "truncated_mp3": (lambda: _speech("mp3")[: len(_speech("mp3")) // 2], "audio/mpeg", 400, "truncated_audio"),
    "zero_channel_wav": (lambda: _patched(_wav(), 22, "<H", 0), "audio/wav", 400, "invalid_channels"),
    "one_hertz_wav": (lambda: wav_bytes(np.zeros(64, np.float32), 1), "audio/wav", 400, "unsupported_sample_rate"),
    "nan_samples": (lambda: wav_bytes(np.full(1600, np.nan, np.float32), 16000, subtype="FLOAT"), "audio/wav",
                    400, "corrupt_audio"),
    "png_image_as_audio": (lambda: photo_png("chelsea"), "audio/ogg", 400, "no_audio_stream"),
    "header_only_wav": (lambda: wav_bytes(np.zeros(0, np.float32), 16000), "audio/wav", 400, "empty_audio"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_gets_its_4xx_and_service_stays_ready(client: FlaskClient, name: str) -> None:
    make, content_type, status, code = BAD_FILES[name]
    data = make()
    for response in (client.post("/v1/transcribe", data=data, content_type=content_type),
                     client.post("/v1/transcribe", data={"file": (io.BytesIO(data), "x.bin")},
                                 content_type="multipart/form-data")):
        assert response.status_code == status, response.get_json()
        assert response.get_json()["error"]["code"] == code
    assert client.get("/readyz").status_code == 200


def test_wav_header_claiming_more_data_than_present_decodes_what_is_there(client: FlaskClient) -> None:
    wav = _wav()
    data_at = wav.find(b"data")
    lying = _patched(wav, data_at + 4, "<I", len(wav) * 4)
    response = client.post("/v1/transcribe", data=lying, content_type="audio/wav")
    assert response.status_code == 200
    assert word_error_rate([SENTENCES[0]], [response.get_json()["text"]]) <= 0.35


def test_eight_channel_audio_is_mixed_down(client: FlaskClient) -> None:
    response = client.post("/v1/transcribe", data=_speech("wav", channels=8), content_type="audio/wav")
    assert response.status_code == 200
    assert word_error_rate([SENTENCES[0]], [response.get_json()["text"]]) <= 0.35


def test_long_silence_gives_an_empty_transcript(client: FlaskClient) -> None:
    data = encode_audio(silence(110.0), 16000, "flac")
    response = client.post("/v1/transcribe", data=data, content_type="audio/flac")
    assert response.status_code == 200
    body = response.get_json()
    assert body["text"] == "" and body["segments"] == [] and body["duration"] == pytest.approx(110.0)
    srt_body = client.post("/v1/transcribe?response_format=srt", data=data, content_type="audio/flac")
    assert srt_body.status_code == 200 and srt_body.get_data(as_text=True) == ""


def test_recording_over_the_sync_limit_is_refused_but_accepted_as_a_job(client: FlaskClient) -> None:
    data = encode_audio(silence(300.0), 16000, "flac")  # the test app's synchronous limit is 120 s
    refused = client.post("/v1/transcribe", data=data, content_type="audio/flac")
    assert refused.status_code == 413
    assert refused.get_json()["error"]["code"] == "audio_too_long_for_sync"
    job = client.post("/v1/transcribe", data=data, content_type="audio/flac",
                      headers={"X-Polyserve-Async-Job": "1", "X-Request-Timeout-Ms": "600000"})
    assert job.status_code == 200 and job.get_json()["duration"] == pytest.approx(300.0)


def test_recording_over_the_job_limit_is_refused(client: FlaskClient) -> None:
    data = encode_audio(silence(960.0, rate=8000), 8000, "flac")  # the test app's job limit is 900 s
    response = client.post("/v1/transcribe", data=data, content_type="audio/flac",
                           headers={"X-Polyserve-Async-Job": "1"})
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "audio_too_long"


def test_body_over_the_byte_limit_is_413(client: FlaskClient) -> None:
    response = client.post("/v1/transcribe", data=b"\0" * (25 * 1024 * 1024 + 1), content_type="audio/wav")
    assert response.status_code == 413


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"data": b"abc", "content_type": "text/plain"}, 415, "unsupported_media_type"),
    ({"json": {"audio": "!!not base64!!"}}, 400, "invalid_base64"),
    ({"json": {"audio": base64.b64encode(b"x").decode(), "response_format": "docx"}}, 400, "invalid_input"),
    ({"json": {"audio": base64.b64encode(b"x").decode(), "temperature": 3}}, 400, "invalid_input"),
    ({"json": {"audio": base64.b64encode(b"x").decode(), "model": "nope"}}, 404, "model_not_found"),
    ({"json": {"audio": base64.b64encode(b"x").decode(), "language": "xx"}}, 400, "unsupported_language"),
    ({"json": {"audio": base64.b64encode(b"x").decode(), "colour": "red"}}, 400, "invalid_input"),
    ({"json": {"audio": base64.b64encode(b"x").decode(), "prompt": "p" * 3000}}, 400, "prompt_too_long"),
    ({"data": {"response_format": "json"}, "content_type": "multipart/form-data"}, 400, "missing_file"),
])
def test_bad_requests_get_clear_errors(client: FlaskClient, kwargs: dict, status: int, code: str) -> None:
    response = client.post("/v1/transcribe", **kwargs)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] == code


def test_a_request_out_of_time_gets_504_and_the_service_goes_on(client: FlaskClient) -> None:
    speech = synthesize(SENTENCES[1])
    data = encode_audio(speech.samples, speech.sample_rate, "wav")
    late = client.post("/v1/transcribe", data=data, content_type="audio/wav", headers={"X-Request-Timeout-Ms": "1"})
    assert late.status_code == 504 and late.get_json()["error"]["code"] == "timeout"
    assert "Traceback" not in late.get_data(as_text=True)
    on_time = client.post("/v1/transcribe", data=data, content_type="audio/wav")
    assert on_time.status_code == 200 and on_time.get_json()["text"]
