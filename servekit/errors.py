"""One exception per failure, one JSON error shape for every service.

Every error body is OpenAI-shaped so that the gateway can relay upstream errors unchanged:
``{"error": {"message": str, "type": str, "param": str | null, "code": str}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException

from servekit.protocol import queue_wait_header

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Base class: a failure with an HTTP status, a stable machine-readable code and a human message."""

    status: int = 500
    code: str = "internal_error"
    type: str = "server_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.code, self.param)


class InvalidInput(ApiError):
    status, code, type = 400, "invalid_input", "invalid_request_error"


class Unauthorized(ApiError):
    status, code, type = 401, "invalid_api_key", "authentication_error"


class Forbidden(ApiError):
    status, code, type = 403, "forbidden", "permission_error"


class NotFound(ApiError):
    status, code, type = 404, "not_found", "invalid_request_error"


class ModelNotFound(NotFound):
    code = "model_not_found"


class Conflict(ApiError):
    status, code, type = 409, "conflict", "invalid_request_error"


class PayloadTooLarge(ApiError):
    status, code, type = 413, "payload_too_large", "invalid_request_error"


class UnsupportedMediaType(ApiError):
    status, code, type = 415, "unsupported_media_type", "invalid_request_error"


class UnprocessableInput(ApiError):
    """The request is well formed but its content cannot be processed (an undecodable image, say)."""

    status, code, type = 422, "unprocessable_input", "invalid_request_error"


class InferenceError(ApiError):
    status, code, type = 500, "inference_error", "server_error"


class Overloaded(ApiError):
    """The bounded queue is full: refuse at once, tell the client when to come back."""

    status, code, type = 503, "overloaded", "server_error"

    def __init__(self, message: str = "server is at capacity, retry later", *, retry_after_s: int = 1,
                 queue_wait_s: float | None = None, **kwargs: Any) -> None:
        headers = {"Retry-After": str(retry_after_s)}
        if queue_wait_s is not None:
            headers.update(queue_wait_header(queue_wait_s))
        super().__init__(message, headers=headers, **kwargs)


class ModelNotReady(ApiError):
    status, code, type = 503, "model_not_ready", "server_error"

    def __init__(self, message: str = "models are still loading", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": "5"})
        super().__init__(message, **kwargs)


class UpstreamUnavailable(ApiError):
    status, code, type = 503, "upstream_unavailable", "server_error"


class DeadlineExceeded(ApiError):
    status, code, type = 504, "timeout", "server_error"


def error_body(message: str, type_: str, code: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# Werkzeug's own errors (routing, size, parsing) mapped to stable codes.
_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "invalid_request_error"),
    401: ("unauthorized", "authentication_error"),
    403: ("forbidden", "permission_error"),
    404: ("not_found", "invalid_request_error"),
    405: ("method_not_allowed", "invalid_request_error"),
    408: ("request_timeout", "invalid_request_error"),
    411: ("length_required", "invalid_request_error"),
    413: ("payload_too_large", "invalid_request_error"),
    415: ("unsupported_media_type", "invalid_request_error"),
    429: ("rate_limit_exceeded", "rate_limit_error"),
}


def _json_response(status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _handle_api_error(error: ApiError) -> Response:
    if error.status >= 500:
        log.warning("request failed: %s", error.code, extra={"error_code": error.code, "status": error.status})
    return _json_response(error.status, error.body(), error.headers)


def _handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    code, type_ = _HTTP_CODES.get(status, ("http_error", "invalid_request_error"))
    headers = {k: v for k, v in error.get_headers() if k.lower() not in {"content-type", "content-length"}}
    message = error.description or error.name
    if status == 400 and "decode JSON" in message:
        code, message = "invalid_json", "request body is not valid JSON"
    return _json_response(status, error_body(message, type_, code), headers)


def _handle_unexpected(error: Exception) -> Response:
    # The exception text stays in the log, tied to the request id; the client sees a generic message.
    log.exception("unhandled error", extra={"error_code": "internal_error"})
    request_id = getattr(g, "request_id", None)
    message = "internal server error" + (f" (request id {request_id})" if request_id else "")
    return _json_response(500, error_body(message, "server_error", "internal_error"))


def register_error_handlers(app: Flask) -> None:
    """Every error any route can raise leaves as the one JSON shape."""
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
