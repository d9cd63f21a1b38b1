"""How long a recording may be and how long its transcription may run: synchronous calls vs. asynchronous jobs.

The gateway's job worker marks its calls with ``X-Polyserve-Async-Job: 1`` (behind the internal token); they may
carry longer recordings (max_job_duration_s) and run past request_timeout_s, up to job_timeout_s.
"""

from __future__ import annotations

import dataclasses
import time

from flask import g, request

from servekit import protocol
from services.audio.decode import AudioLimits
from services.audio.settings import AudioSettings


def is_async_job() -> bool:
    return protocol.is_async_job(request.headers)


def duration_limits(settings: AudioSettings, *, job: bool) -> AudioLimits:
    """Jobs may be as long as max_job_duration_s; synchronous calls stop at max_sync_duration_s."""
    limits = AudioLimits(max_duration_s=settings.max_job_duration_s, min_sample_rate=settings.min_sample_rate,
                         max_sample_rate=settings.max_sample_rate, max_channels=settings.max_channels)
    if job:
        return limits
    return dataclasses.replace(limits, max_duration_s=settings.max_sync_duration_s,
                               too_long_code="audio_too_long_for_sync",
                               too_long_hint="submit it as an asynchronous transcription job")


def embed_limits(settings: AudioSettings) -> AudioLimits:
    """Each /v1/embed input may be as long as max_embed_duration_s."""
    return dataclasses.replace(duration_limits(settings, job=True), max_duration_s=settings.max_embed_duration_s)


def job_budget_s(settings: AudioSettings) -> float:
    """Seconds an asynchronous job may run: the caller's deadline header, capped by job_timeout_s.

    (The kernel caps every request's deadline at request_timeout_s; a job is allowed past that.)
    """
    granted = protocol.deadline_budget_s(request.headers)
    budget = settings.job_timeout_s if granted is None else min(settings.job_timeout_s, granted)
    started: float = g.started
    return max(0.0, started + budget - time.monotonic())
