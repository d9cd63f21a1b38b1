"""``POST /v1/transcribe``, ``POST /v1/embed`` and ``GET /v1/models`` of the audio service."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from flask import Blueprint, jsonify

from servekit.app import current_settings
from servekit.codecs import decode_base64_payload
from servekit.context import remaining_s
from servekit.embeddings import EmbedRequest, check_dimensions, embedding_response
from servekit.errors import ApiError, InvalidInput, ModelNotFound
from servekit.items import raise_first_failure
from servekit.models import ModelPool, current_pool
from servekit.validation import parse_json
from services.audio.backends.base import AudioBackend
from services.audio.decode import decode_audio
from services.audio.formats import render
from services.audio.intake import read_upload
from services.audio.limits import duration_limits, embed_limits, is_async_job, job_budget_s
from services.audio.settings import AudioSettings
from services.audio.transcript import Transcript, TranscriptionJob

bp = Blueprint("audio", __name__, url_prefix="/v1")


def _backend(pool: ModelPool, name: str, task: str) -> AudioBackend:
    backend = pool.backend(name, task)
    if not isinstance(backend, AudioBackend):
        raise ModelNotFound(f"model {name!r} is not an audio model", param="model")
    return backend


@bp.post("/transcribe")
def transcribe() -> Any:
    settings = current_settings()
    upload = read_upload(max_bytes=settings.max_body_bytes, max_prompt_chars=settings.max_prompt_chars)
    pool = current_pool()
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
    settings = current_settings()
    pool = current_pool()
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
    return jsonify(object="list", data=current_pool().list_models())
