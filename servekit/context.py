"""Per-request context: the request id and the deadline, accepted from upstream and passed downstream."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from servekit.protocol import REQUEST_ID_HEADER, deadline_budget_s

_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
log = logging.getLogger("servekit.access")


def remaining_s() -> float:
    """Seconds left before this request's deadline."""
    deadline: float = g.deadline
    return max(0.0, deadline - time.monotonic())


def install_request_context(app: Flask, default_timeout_s: float) -> None:
    """Accept or make ``X-Request-ID``, set the deadline, echo the id and write one access log line."""

    @app.before_request
    def _begin() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.monotonic()
        granted = deadline_budget_s(request.headers)
        g.deadline = g.started + (default_timeout_s if granted is None else min(default_timeout_s, granted))

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        if request.path not in ("/healthz", "/readyz", "/metrics"):
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - g.get("started", time.monotonic())) * 1000, 2),
                },
            )
        return response
