"""Fusion service settings (prefix ``FUSION_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servekit.settings import ServiceSettings


class FusionSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FUSION_")

    port: int = Field(8004, ge=1, le=65535, description="TCP port the fusion service listens on.")
