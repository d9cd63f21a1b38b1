"""Public routes for image captioning, classification, OCR and questions, forwarded to the vision service.

Each route takes JSON (``input``: base64 or data URIs, plus parameters), multipart ``file`` parts with form
fields, or a raw ``image/*`` body with parameters in the query string. Multipart and raw bodies are turned into
the vision service's JSON contract (base64 inputs), so the service validates every form the same way.
"""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from gateway.forwarding import forward_raw, forward_upload
from gateway.upstreams import upstream
from servekit.errors import InvalidInput
from servekit.uploads import (
    field_values,
    is_multipart,
    is_raw_media,
    raw_body,
    unsupported_media,
    uploaded_files,
)
from servekit.validation import require_json

bp = Blueprint("images", __name__, url_prefix="/v1")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def vision_body() -> dict[str, Any]:
    """The current request in the vision service's JSON form."""
    if is_multipart():
        return {**field_values(request.form), "input": [_b64(part.read()) for part in uploaded_files()]}
    if request.is_json:
        body = require_json()
        if not isinstance(body, dict):
            raise InvalidInput("JSON body must be an object with an 'input' field", code="invalid_request")
        return body
    if is_raw_media("image"):
        return {**field_values(request.args), "input": [_b64(raw_body())]}
    raise unsupported_media("image", "input")


def _forward(path: str) -> Response:
    """JSON goes on as JSON; uploads and raw bodies go on in their own form, whose fields are strings that the
    vision service reads as such (JSON parameters are typed: ``"top_k": "3"`` is refused there)."""
    if is_multipart():
        return jsonify(forward_upload("vision", path))
    if is_raw_media("image"):
        return jsonify(forward_raw("vision", path))
    return jsonify(upstream("vision").post_json(path, vision_body()))


@bp.post("/images/captions")
def create_captions() -> ResponseReturnValue:
    return _forward("/v1/caption")


@bp.post("/images/classifications")
def create_classifications() -> ResponseReturnValue:
    return _forward("/v1/classify")


@bp.post("/images/ocr")
def create_ocr() -> ResponseReturnValue:
    return _forward("/v1/ocr")


@bp.post("/images/questions")
def create_answers() -> Any:
    return _forward("/v1/answer")
