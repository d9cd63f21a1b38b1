"""``POST /v1/transcribe`` of the audio service (``/v1/embed`` and ``/v1/models`` are the kernel's, over
:func:`read_embed`)."""

from __future__ import annotations

import time

import numpy as np
from flask import Blueprint
from flask.typing import ResponseReturnValue

from servekit.app import current_settings
from servekit.codecs import decode_base64_payload
from servekit.context import remaining_s
from servekit.embeddings import EmbedRequest
from servekit.errors import ApiError
from servekit.models import ModelBackend, current_pool
from servekit.routes import EmbedCall
from servekit.validation import check_item_count, parse_json
from services.audio.backends.base import AudioBackend
from services.audio.decode import decode_audio
from services.audio.formats import render
from services.audio.intake import read_upload
from services.audio.limits import duration_limits, embed_limits, is_async_job, job_budget_s
from services.audio.settings import AudioSettings
from services.audio.transcript import Transcript, TranscriptionItem

bp = Blueprint("audio", __name__, url_prefix="/v1")


def _audio(backend: ModelBackend) -> AudioBackend:
    if not isinstance(backend, AudioBackend):  # a registry mistake, not the caller's
        raise TypeError(f"{backend.name} is not an audio backend")
    return backend


@bp.post("/transcribe")
def transcribe() -> ResponseReturnValue:
    settings = current_settings(AudioSettings)
    upload = read_upload(max_bytes=settings.max_body_bytes, max_prompt_chars=settings.max_prompt_chars)
    pool = current_pool()
    name = pool.resolve(upload.params.model, "transcribe")
    backend = _audio(pool.backend(name, "transcribe"))
    options = upload.params.options()
    backend.check_options(options)
    job = is_async_job()
    audio = decode_audio(upload.data, target_rate=backend.sampling_rate, limits=duration_limits(settings, job=job),
                         param=upload.param)
    budget = job_budget_s(settings) if job else remaining_s()
    work = TranscriptionItem(audio.samples, audio.sample_rate, options, time.monotonic() + budget)
    result = pool.run(name, "transcribe", [work], budget)[0]
    if isinstance(result, ApiError):
        raise result
    transcript: Transcript = result
    return render(transcript, upload.params.response_format,
                  with_words=options.word_timestamps, model=name)


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
        return _decode_inputs(body.input, _audio(backend).sampling_rate, settings)

    return EmbedCall(body, items_for)
