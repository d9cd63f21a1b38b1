"""Vision service settings (prefix ``VISION_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servekit.settings import ModelRuntimeSettings


class VisionSettings(ModelRuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="VISION_")

    port: int = Field(8002, ge=1, le=65535, description="TCP port the vision service listens on.")
