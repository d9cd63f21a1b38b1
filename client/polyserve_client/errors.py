"""The API's errors as exceptions: every gateway error body is ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

from typing import Any

import requests


class PolyserveError(Exception):
    """An error answer from the gateway, with its HTTP status and the API's stable ``code``."""

    def __init__(self, status: int, code: str, message: str, *, type_: str = "", param: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.type = type_
        self.param = param
        self.retry_after = retry_after


class JobFailed(PolyserveError):
    """A job that ended failed or canceled; ``code`` is the reason the worker recorded."""


class JobTimeout(TimeoutError):
    """``wait()`` gave up before the job finished (the job itself goes on)."""


def retry_after_s(response: requests.Response) -> float | None:
    """Retry-After in seconds (the gateway sends delta-seconds), or None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def error_from(response: requests.Response) -> PolyserveError:
    """The exception for an error response; a body that is not the API's shape still gives status and text."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return PolyserveError(response.status_code, f"http_{response.status_code}", response.text[:500] or
                              response.reason or "error", retry_after=retry_after_s(response))
    return PolyserveError(response.status_code, str(error.get("code") or f"http_{response.status_code}"),
                          str(error.get("message") or ""), type_=str(error.get("type") or ""),
                          param=error.get("param"), retry_after=retry_after_s(response))
