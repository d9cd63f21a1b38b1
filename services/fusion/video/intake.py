"""How a video arrives: a multipart ``file`` part with form fields, or the raw video as the body (``video/*`` or
``application/octet-stream``) with the same fields in the query string. The bytes are streamed to the job's
folder, never held in memory whole; the fields are ``video_id``, ``metadata`` (a JSON object) and
``allow_degraded``."""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import request
from pydantic import BaseModel, ConfigDict, Field, Json, field_validator
from werkzeug.datastructures import MultiDict

from servekit.errors import InvalidInput
from servekit.uploads import field_values, is_multipart, is_raw_video, unsupported_video, uploaded_files
from servekit.validation import parse_model
from services.fusion.schemas import MAX_METADATA_BYTES, storable

VIDEO_ID_MAX_CHARS = 128
VIDEO_ID = rf"^[A-Za-z0-9][A-Za-z0-9_.:\-]{{0,{VIDEO_ID_MAX_CHARS - 1}}}$"
COPY_CHUNK = 1024 * 1024


class VideoUploadParams(BaseModel):
    """The fields of a video upload (form fields or query parameters: text, converted)."""

    model_config = ConfigDict(extra="forbid", regex_engine="python-re")

    video_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:16], pattern=VIDEO_ID,
                          max_length=VIDEO_ID_MAX_CHARS,
                          description="The video's id in the collection (segments are <video_id>#<start_ms>); "
                          "default: a new random id.")
    metadata: Json[dict[str, Any]] = Field(default_factory=dict, description="JSON object copied to every "
                                           "segment's metadata.")
    allow_degraded: bool = False

    @field_validator("metadata")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes of JSON")
        return dict(storable(value))


@dataclass(frozen=True)
class VideoUpload:
    params: VideoUploadParams
    filename: str | None
    param: str  # where the video came from: file or body


def _params(fields: MultiDict[str, str]) -> VideoUploadParams:
    values = field_values(fields)
    duplicated = [key for key, value in values.items() if isinstance(value, list)]
    if duplicated:
        raise InvalidInput(f"field {duplicated[0]!r} is given more than once", param=duplicated[0],
                           code="duplicate_field")
    return parse_model(VideoUploadParams, values)


def receive_video(target: Path) -> VideoUpload:
    """Write the uploaded video to ``target``; its fields validated. 400 for an empty or missing file, 415 for a
    body that is neither multipart nor a video."""
    if is_multipart():
        parts = uploaded_files()
        if len(parts) != 1:
            raise InvalidInput("send exactly one video in the multipart field 'file'", param="file",
                               code="too_many_files")
        params = _params(request.form)
        parts[0].save(str(target))
        upload = VideoUpload(params, parts[0].filename, "file")
    elif is_raw_video():
        params = _params(request.args)
        with target.open("wb") as out:
            shutil.copyfileobj(request.stream, out, COPY_CHUNK)
        upload = VideoUpload(params, None, "body")
    else:
        raise unsupported_video()
    if target.stat().st_size == 0:
        raise InvalidInput("the video file is empty", param=upload.param, code="empty_input")
    return upload
