"""Audio service settings (prefix ``AUDIO_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servekit.settings import ModelRuntimeSettings


class AudioSettings(ModelRuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIO_")

    port: int = Field(8003, ge=1, le=65535, description="TCP port the audio service listens on.")
