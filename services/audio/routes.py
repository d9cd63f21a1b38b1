"""``POST /v1/transcribe`` of the audio service (``/v1/embed`` and ``/v1/models`` are the kernel's, over
:func:`read_embed`)."""

from __future__ import annotations

import time

from flask import Blueprint
from flask.typing import ResponseReturnValue

from servekit.app import current_settings
from servekit.context import remaining_s
from servekit.errors import ApiError
from servekit.models import current_pool
from services.audio.backends.base import as_audio_backend
from services.audio.decode import decode_audio
from services.audio.formats import render
from services.audio.intake import read_upload
from services.audio.items import Transcript, TranscriptionItem
from services.audio.limits import duration_limits, is_async_job, job_budget_s
from services.audio.settings import AudioSettings
from services.audio.streaming import check_streamable, stream_transcript

bp = Blueprint("audio", __name__, url_prefix="/v1")


@bp.post("/transcribe")
def transcribe() -> ResponseReturnValue:
    settings = current_settings(AudioSettings)
    upload = read_upload(max_bytes=settings.max_body_bytes, max_prompt_chars=settings.max_prompt_chars)
    pool = current_pool()
    name = pool.resolve(upload.params.model, "transcribe")
    backend = as_audio_backend(pool.backend(name, "transcribe"))
    options = upload.params.options()
    backend.check_options(options)
    if upload.params.stream:
        check_streamable(upload.params.response_format)
    job = is_async_job()
    audio = decode_audio(upload.data, target_rate=backend.sampling_rate, limits=duration_limits(settings, job=job),
                         param=upload.param)
    budget = job_budget_s(settings) if job else remaining_s()
    work = TranscriptionItem(audio.samples, audio.sample_rate, options, time.monotonic() + budget)
    if upload.params.stream:
        return stream_transcript(pool, name, work, budget)
    result = pool.run(name, "transcribe", [work], budget)[0]
    if isinstance(result, ApiError):
        raise result
    transcript: Transcript = result
    return render(transcript, upload.params.response_format,
                  with_words=options.word_timestamps, model=name)
