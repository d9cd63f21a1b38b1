"""Apps shared by service tests of several areas."""

from __future__ import annotations

import pytest
from flask import Flask


@pytest.fixture(scope="session")
def whisper_base_app() -> Flask:
    """One audio service app (Whisper base, real weights) for every service test of the session.

    The synchronous limit is lowered to 120 s so that the over-the-limit cases stay small.
    """
    from services.audio.app import create_app
    from services.audio.settings import AudioSettings

    settings = AudioSettings(max_sync_duration_s=120.0, max_job_duration_s=900.0, request_timeout_s=300.0)
    return create_app(settings, load_in_background=False)
