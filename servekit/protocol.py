"""The headers services exchange, declared once, and how each is read.

Every service reads them through these functions; the gateway and the job worker write them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from werkzeug.datastructures import Headers

# Shared secret of service-to-service calls.
INTERNAL_TOKEN_HEADER = "X-Internal-Token"
# The request's id, accepted from the caller when well formed, echoed in every answer and log line.
REQUEST_ID_HEADER = "X-Request-ID"
# Remaining time budget in milliseconds; relative, so that clocks of different hosts need not agree.
DEADLINE_HEADER = "X-Request-Timeout-Ms"
# Set (with the internal token) by the gateway's job worker: longer inputs and a longer time budget.
ASYNC_JOB_HEADER = "X-Polyserve-Async-Job"
# On an encoder's answers, milliseconds of queued work for the model just called: the work ahead of new requests,
# or on a refusal the wait the refused request would have met (its own work included). Callers mirror it and refuse
# at once what the encoder would refuse (servekit/scheduling.py: QueueMirror).
QUEUE_WAIT_HEADER = "X-Queue-Wait-Ms"

TRUE_VALUES = frozenset({"1", "true", "yes"})
# Request headers as Flask gives them, or a plain dict (tests, clients).
HeaderLookup = Headers | Mapping[str, str]


def _millis(headers: HeaderLookup, name: str) -> float | None:
    """Header ``name`` as a finite number of milliseconds, or None when it is absent or not one."""
    value = headers.get(name)
    if not value:
        return None
    try:
        millis = float(value)
    except ValueError:
        return None
    return millis if math.isfinite(millis) else None


def deadline_budget_s(headers: HeaderLookup) -> float | None:
    """Seconds the caller grants (never negative), or None when the header is absent or malformed."""
    millis = _millis(headers, DEADLINE_HEADER)
    return None if millis is None else max(0.0, millis / 1000.0)


def queue_wait_s(headers: HeaderLookup) -> float | None:
    """Seconds of queued work an answer reports, or None when it reports none (or nonsense)."""
    millis = _millis(headers, QUEUE_WAIT_HEADER)
    return None if millis is None or millis < 0 else millis / 1000.0


def queue_wait_header(wait_s: float) -> dict[str, str]:
    return {QUEUE_WAIT_HEADER: str(round(wait_s * 1000))}


def is_async_job(headers: HeaderLookup) -> bool:
    """Whether the call comes from the gateway's job worker (the internal token guards who may say so)."""
    return (headers.get(ASYNC_JOB_HEADER) or "").strip().lower() in TRUE_VALUES
