"""The gateway takes the raw audio bodies the audio service takes: both read the catalog's media types."""

from __future__ import annotations

import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.support.processes import free_port

AUTH = {"Authorization": "Bearer sk-audio"}


@pytest.fixture(scope="module")
def gateway():  # type: ignore[no-untyped-def]
    nowhere = f"http://127.0.0.1:{free_port()}"  # no audio service: an accepted body gets as far as the call
    return create_app(GatewaySettings(api_keys="sk-audio", audio_url=nowhere, cache_enabled=False)).test_client()


@pytest.mark.parametrize("mimetype", ["audio/wav", "video/x-matroska", "video/webm", "application/ogg"])
def test_raw_audio_containers_are_forwarded(gateway, mimetype: str) -> None:  # type: ignore[no-untyped-def]
    response = gateway.post("/v1/audio/transcriptions", data=b"RIFF....", content_type=mimetype, headers=AUTH)
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["error"]["code"] == "audio_unavailable"


def test_a_body_of_another_type_is_refused(gateway) -> None:  # type: ignore[no-untyped-def]
    response = gateway.post("/v1/audio/transcriptions", data=b"hello", content_type="text/plain", headers=AUTH)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
