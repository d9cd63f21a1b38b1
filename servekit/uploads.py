"""The three ways a file reaches an endpoint, read the same way by services and the gateway (no torch).

Multipart ``file`` parts with form fields, a raw body whose Content-Type names the media, or JSON (the caller
handles JSON itself). Each helper turns a malformed request into the matching clear 4xx.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.datastructures import FileStorage, MultiDict

from servekit.catalog import MODALITY_SPECS, Modality
from servekit.errors import InvalidInput, UnsupportedMediaType
from servekit.formfields import check_multipart

FILE_FIELDS = ("file", "file[]")


def is_multipart() -> bool:
    return request.mimetype == "multipart/form-data"


def is_raw_media(modality: Modality) -> bool:
    """Whether the body is the media itself (``image/*``, ``audio/*``, the catalog's other types of it)."""
    return MODALITY_SPECS[modality].accepts_raw(request.mimetype or "")


def uploaded_files() -> list[FileStorage]:
    """Every ``file`` (or ``file[]``) part, in order; 400 when there is none or a part has no usable name."""
    check_multipart()
    parts = [part for name in FILE_FIELDS for part in request.files.getlist(name)]
    if not parts:
        raise InvalidInput("multipart request has no 'file' part", param="file", code="missing_file")
    return parts


def field_values(fields: MultiDict[str, str]) -> dict[str, Any]:
    """Form or query fields as a dict; a field given several times stays a list."""
    return {key: values[0] if len(values) == 1 else values for key, values in fields.lists()}


def raw_body() -> bytes:
    """The whole body; 400 when it is empty."""
    data = request.get_data(cache=False)
    if not data:
        raise InvalidInput("request body is empty", param="body", code="empty_input")
    return data


def unsupported_media(major: Modality, json_field: str) -> UnsupportedMediaType:
    """The 415 that names the accepted request forms."""
    return UnsupportedMediaType(
        f"unsupported Content-Type {request.mimetype or 'none'}: send multipart/form-data with 'file' parts, "
        f"application/json with '{json_field}' (base64 or data URIs), or the file itself as {major}/*"
    )


def is_raw_video() -> bool:
    """Whether the body is a video file itself (``video/*``, or ``application/octet-stream``)."""
    mimetype = (request.mimetype or "").lower()
    return mimetype.startswith("video/") or mimetype == "application/octet-stream"


def unsupported_video() -> UnsupportedMediaType:
    """The 415 of a video upload route, naming the request forms it takes."""
    return UnsupportedMediaType(
        f"unsupported Content-Type {request.mimetype or 'none'}: send multipart/form-data with a 'file' part, or "
        "the video itself as video/* (or application/octet-stream)"
    )
