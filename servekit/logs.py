"""Structured JSON logs carrying the request id. Payloads (text, image, audio) are never logged."""

from __future__ import annotations

import logging
import sys

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id, when there is one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send JSON lines to stderr; idempotent so that tests can build many apps."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if getattr(handler, "_polyserve", False):
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "asctime": "time"},
            static_fields={"service": service},
        )
    )
    handler.addFilter(RequestIdFilter())
    handler._polyserve = True  # type: ignore[attr-defined]  # our marker on a stdlib handler
    root.addHandler(handler)
