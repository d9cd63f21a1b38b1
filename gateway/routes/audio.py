"""``POST /v1/audio/transcriptions``: OpenAI's transcription API, forwarded to the audio service.

Takes what OpenAI's endpoint takes (multipart ``file`` with ``model``, ``language``, ``prompt``,
``response_format``, ``temperature``, ``timestamp_granularities[]``), plus JSON ``{"audio": base64, ...}`` and a raw
``audio/*`` body with parameters in the query string. Each form is passed on as it came, so the audio service
validates all of them one way; its answer (JSON, text, SRT or WebVTT) comes back with its content type.
"""

from __future__ import annotations

import requests
from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from gateway.routes.events import relay_events
from gateway.upstreams import upstream
from servekit.errors import InvalidInput
from servekit.uploads import is_multipart, is_raw_media, raw_body, unsupported_media
from servekit.validation import require_json

bp = Blueprint("audio", __name__, url_prefix="/v1")

TRANSCRIBE_PATH = "/v1/transcribe"


def _relay(response: requests.Response) -> Response:
    """The audio service's answer with its content type; server-sent events (stream=true) as they arrive."""
    content_type = response.headers.get("Content-Type", "application/json")
    if content_type.startswith("text/event-stream"):
        return Response(relay_events(response), status=response.status_code, content_type=content_type,
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return Response(response.content, status=response.status_code, content_type=content_type)


def _forward_multipart() -> requests.Response:
    files = request.files.getlist("file")
    if len(files) != 1:
        raise InvalidInput("send exactly one audio file in the multipart field 'file'", param="file",
                           code="missing_file" if not files else "too_many_files")
    upload = files[0]
    part = (upload.filename or "audio", upload.read(), upload.mimetype or "application/octet-stream")
    fields = {key: values for key, values in request.form.lists()}
    return upstream("audio").request("POST", TRANSCRIBE_PATH, files={"file": part}, data=fields, stream=True)


def _forward_raw() -> requests.Response:
    return upstream("audio").request("POST", TRANSCRIBE_PATH, data=raw_body(), params=request.args.to_dict(flat=False),
                                     headers={"Content-Type": request.mimetype}, stream=True)


@bp.post("/audio/transcriptions")
def create_transcription() -> ResponseReturnValue:
    if is_multipart():
        return _relay(_forward_multipart())
    if request.is_json:
        return _relay(upstream("audio").request("POST", TRANSCRIBE_PATH, json=require_json(), stream=True))
    if is_raw_media("audio"):
        return _relay(_forward_raw())
    raise unsupported_media("audio", "audio")
