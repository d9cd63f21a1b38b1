"""The three ways a recording arrives: multipart upload, a raw audio body, or base64 in JSON; and the base64
recordings of an embed request.

Each yields the audio bytes, the transcription parameters (validated, OpenAI's names) and the name of the
parameter that carried the audio, so that errors point at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from servekit.app import current_settings
from servekit.codecs import decode_base64_payload
from servekit.embeddings import EmbedRequest
from servekit.errors import InvalidInput, UnsupportedMediaType
from servekit.formfields import check_multipart
from servekit.models import ModelBackend
from servekit.routes import EmbedCall
from servekit.uploads import is_raw_media
from servekit.validation import check_item_count, parse_json, parse_model, require_json
from services.audio.backends.base import as_audio_backend
from services.audio.decode import decode_audio
from services.audio.formats import ResponseFormat
from services.audio.items import Granularity, TranscribeOptions
from services.audio.limits import embed_limits
from services.audio.settings import AudioSettings

GRANULARITY_FIELDS = ("timestamp_granularities[]", "timestamp_granularities")


class TranscribeParams(BaseModel):
    """OpenAI's transcription parameters."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, min_length=1, max_length=128)
    language: str | None = Field(None, max_length=3, pattern=r"^[A-Za-z]{2,3}$", description="ISO-639-1 code, e.g. en")
    prompt: str | None = None
    response_format: ResponseFormat = "json"
    temperature: float | None = Field(None, ge=0.0, le=1.0)
    timestamp_granularities: list[Granularity] = Field(default_factory=lambda: ["segment"],  # type: ignore[arg-type]
                                                       max_length=2)
    stream: bool = Field(False, description="Send transcript.text.delta events segment by segment (json/text).")

    @field_validator("language", "prompt", "model", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("language")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value else value

    def options(self) -> TranscribeOptions:
        return TranscribeOptions(language=self.language, prompt=self.prompt, temperature=self.temperature,
                                 word_timestamps="word" in self.timestamp_granularities)


class JsonTranscribeRequest(TranscribeParams):
    audio: str = Field(min_length=1, description="base64 or data: URI of the audio file")


@dataclass(frozen=True)
class Upload:
    data: bytes
    params: TranscribeParams
    param: str  # where the audio came from: file, audio or body


def _fields(source: Any) -> dict[str, Any]:
    """Form or query fields as a dict; repeated granularity fields become one list."""
    fields: dict[str, Any] = {}
    for key in source:
        if key in GRANULARITY_FIELDS:
            fields["timestamp_granularities"] = [v for k in GRANULARITY_FIELDS for v in source.getlist(k)]
        else:
            values = source.getlist(key)
            if len(values) != 1:
                raise InvalidInput(f"field {key!r} is given {len(values)} times", param=key,
                                   code="duplicate_field")
            fields[key] = values[0]
    return fields


def _from_multipart(max_prompt_chars: int) -> Upload:
    check_multipart()
    files = request.files.getlist("file")
    others = [name for name in request.files if name != "file"]
    if others:
        raise InvalidInput(f"unexpected file field {others[0]!r}; send the audio as 'file'", param=others[0],
                           code="unexpected_file")
    if len(files) != 1:
        raise InvalidInput("send exactly one audio file in the multipart field 'file'", param="file",
                           code="missing_file" if not files else "too_many_files")
    params = parse_model(TranscribeParams, _fields(request.form))
    _check_prompt(params, max_prompt_chars)
    return Upload(files[0].read(), params, "file")


def _from_json(max_bytes: int, max_prompt_chars: int) -> Upload:
    body = parse_model(JsonTranscribeRequest, require_json(), strict=True)
    data, _ = decode_base64_payload(body.audio, max_bytes=max_bytes, param="audio")
    params = TranscribeParams.model_validate(body.model_dump(exclude={"audio"}))
    _check_prompt(params, max_prompt_chars)
    return Upload(data, params, "audio")


def _from_raw(max_prompt_chars: int) -> Upload:
    params = parse_model(TranscribeParams, _fields(request.args))
    _check_prompt(params, max_prompt_chars)
    return Upload(request.get_data(cache=False), params, "body")


def _check_prompt(params: TranscribeParams, max_chars: int) -> None:
    if params.prompt is not None and len(params.prompt) > max_chars:
        raise InvalidInput(f"prompt is longer than {max_chars} characters", param="prompt", code="prompt_too_long")


def read_upload(*, max_bytes: int, max_prompt_chars: int) -> Upload:
    """The recording and parameters of a transcription request, whichever way it was sent (415 otherwise)."""
    mimetype = request.mimetype or ""
    if mimetype == "multipart/form-data":
        return _from_multipart(max_prompt_chars)
    if request.is_json:
        return _from_json(max_bytes, max_prompt_chars)
    if is_raw_media("audio"):
        return _from_raw(max_prompt_chars)
    raise UnsupportedMediaType(
        f"send multipart/form-data with a 'file', application/json with 'audio', or a raw audio/* body; "
        f"got {mimetype or 'no content type'}")


def _decode_inputs(inputs: list[str], rate: int, settings: AudioSettings) -> list[np.ndarray]:
    limits = embed_limits(settings)
    decoded = []
    for index, value in enumerate(inputs):
        param = f"input[{index}]"
        data, _ = decode_base64_payload(value, max_bytes=settings.max_body_bytes, param=param)
        decoded.append(decode_audio(data, target_rate=rate, limits=limits, param=param).samples)
    return decoded


def read_embed() -> EmbedCall:
    """Base64 recordings, decoded at the chosen model's sampling rate."""
    body = parse_json(EmbedRequest)
    settings = current_settings(AudioSettings)
    check_item_count(len(body.input), settings.max_items_per_request)

    def items_for(backend: ModelBackend) -> list[np.ndarray]:
        return _decode_inputs(body.input, as_audio_backend(backend).sampling_rate, settings)

    return EmbedCall(body, items_for)
