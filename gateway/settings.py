"""Gateway settings (prefix ``GATEWAY_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servekit.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_")

    port: int = Field(8080, ge=1, le=65535, description="TCP port of the public API.")
    threads: int = Field(32, ge=1, le=1024, description="Request threads; each waits on an upstream call.")
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above).")
    request_timeout_s: float = Field(60.0, gt=0, description="Deadline of a public request, passed downstream.")
    require_internal_token: bool = Field(False, description="The gateway is public: clients use API keys instead.")
    api_keys: str = Field("", description="Comma-separated API keys accepted in `Authorization: Bearer <key>`.")
    api_keys_file: str | None = Field(None, description="File with one API key per line (# comments allowed).")
    text_url: str = Field("http://127.0.0.1:8001", description="Base URL of the text encoder service.")
    vision_url: str = Field("http://127.0.0.1:8002", description="Base URL of the vision encoder service.")
    audio_url: str = Field("http://127.0.0.1:8003", description="Base URL of the audio encoder service.")
    fusion_url: str = Field("http://127.0.0.1:8004", description="Base URL of the fusion service.")
    upstream_connect_timeout_s: float = Field(2.0, gt=0, description="Connect timeout to an upstream service.")
    upstream_pool_size: int = Field(64, ge=1, description="Pooled connections per upstream service.")
    max_embedding_inputs: int = Field(2048, ge=1, description="Most inputs one embeddings request may carry.")
    embedding_chunk_size: int = Field(
        64, ge=1, description="Inputs per upstream call; a larger request is split into parallel calls."
    )
    auth_disabled: bool = Field(False, description="Serve /v1 without API keys (local experiments only).")
    ready_requires: str = Field(
        "text", description="Comma-separated upstreams that must be ready for the gateway's /readyz to say ready."
    )
