"""``POST /v1/transcribe``, ``POST /v1/embed`` and ``GET /v1/models`` of the audio service."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel, ConfigDict, Field, field_validator

from servekit.codecs import decode_base64_payload
from servekit.context import remaining_s
from servekit.embeddings import EncodingFormat, check_dimensions, embedding_response
from servekit.errors import ApiError, InvalidInput
from servekit.items import raise_first_failure
from servekit.models import ModelPool
from servekit.validation import parse_json
from services.audio.backends.base import AudioBackend
from services.audio.decode import decode_audio
from services.audio.formats import render
from services.audio.intake import read_upload
from services.audio.limits import duration_limits, embed_limits, is_async_job, job_budget_s
from services.audio.settings import AudioSettings
from services.audio.transcript import Transcript, TranscriptionJob

bp = Blueprint("audio", __name__, url_prefix="/v1")


class EmbedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    input: list[str] = Field(min_length=1)
    encoding_format: EncodingFormat = "float"
    dimensions: int | None = Field(None, ge=1)

    @field_validator("input", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def _pool() -> ModelPool:
    pool: ModelPool = current_app.extensions["pool"]
    return pool


def _settings() -> AudioSettings:
    settings: AudioSettings = current_app.extensions["settings"]
    return settings


def _backend(pool: ModelPool, name: str, task: str) -> AudioBackend:
    backend = pool.backend(name, task)
    assert isinstance(backend, AudioBackend), f"{name} is not an audio backend"
    return backend


@bp.post("/transcribe")
def transcribe() -> Any:
    settings = _settings()
    upload = read_upload(max_bytes=settings.max_body_bytes, max_prompt_chars=settings.max_prompt_chars)
    pool = _pool()
    name = upload.params.model or pool.default_model("transcribe")
    backend = _backend(pool, name, "transcribe")
    options = upload.params.options()
    backend.check_options(options)
    job = is_async_job()
    audio = decode_audio(upload.data, target_rate=backend.sampling_rate, limits=duration_limits(settings, job=job),
                         param=upload.param)
    budget = job_budget_s(settings) if job else remaining_s()
    work = TranscriptionJob(audio.samples, audio.sample_rate, options, time.monotonic() + budget)
    result = pool.run(name, "transcribe", [work], budget)[0]
    if isinstance(result, ApiError):
        raise result
    transcript: Transcript = result
    return render(transcript, upload.params.response_format,
                  with_words=options.word_timestamps, model=name)


def _decode_inputs(inputs: list[str], rate: int, settings: AudioSettings) -> list[np.ndarray]:
    if len(inputs) > settings.max_items_per_request:
        raise InvalidInput(f"at most {settings.max_items_per_request} inputs per request, got {len(inputs)}",
                           param="input", code="too_many_inputs")
    limits = embed_limits(settings)
    decoded = []
    for index, value in enumerate(inputs):
        param = f"input[{index}]"
        data, _ = decode_base64_payload(value, max_bytes=settings.max_body_bytes, param=param)
        decoded.append(decode_audio(data, target_rate=rate, limits=limits, param=param).samples)
    return decoded


@bp.post("/embed")
def embed() -> Any:
    body = parse_json(EmbedRequest)
    settings = _settings()
    pool = _pool()
    name = body.model or pool.default_model("embed")
    backend = _backend(pool, name, "embed")
    info = backend.info()
    check_dimensions(body.dimensions, info["dimensions"], info["truncatable"], name)
    samples = _decode_inputs(body.input, backend.sampling_rate, settings)
    results = pool.run(name, "embed", samples, remaining_s())
    raise_first_failure(results)
    return jsonify(embedding_response(results, model=name, space=backend.space,
                                      encoding_format=body.encoding_format, dimensions=body.dimensions))


@bp.get("/models")
def models() -> Any:
    return jsonify(object="list", data=_pool().list_models())
