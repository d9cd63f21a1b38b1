"""Gateway settings (prefix ``GATEWAY_``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import limits
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from servekit.catalog import SERVICES, UPSTREAMS
from servekit.settings import ServiceSettings, with_upstream_urls

# GATEWAY_TEXT_URL, GATEWAY_VISION_URL, ...: one field per service the catalog says the gateway calls.
if TYPE_CHECKING:
    _Base = ServiceSettings
else:
    _Base = with_upstream_urls(ServiceSettings, UPSTREAMS)


class GatewaySettings(_Base):
    model_config = SettingsConfigDict(env_prefix=SERVICES["gateway"].env_prefix)

    port: int = Field(SERVICES["gateway"].port, ge=1, le=65535, description="TCP port of the public API.")
    threads: int = Field(128, ge=1, le=1024, description="Request threads; each waits on an upstream call, so enough "
                         "of them let overload reach the encoders' admission control instead of the socket backlog.")
    max_body_bytes: int = Field(32 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above).")
    request_timeout_s: float = Field(60.0, gt=0, description="Deadline of a public request, passed downstream.")
    require_internal_token: bool = Field(False, description="The gateway is public: clients use API keys instead.")
    api_keys: str = Field("", description="Comma-separated API keys accepted in `Authorization: Bearer <key>`.")
    api_keys_file: str | None = Field(
        None, description="File with one API key per line, optionally followed by its scopes separated by spaces "
        "(`sk-abc embeddings images`); # starts a comment.")
    api_key_default_scopes: str = Field(
        "*", description="Scopes of an API key listed without scopes (space-separated; `*` means every scope).")
    jwt_jwks_file: str | None = Field(None, description="JWKS file (RS256/ES256 public keys) that verifies OAuth2 "
                                      "bearer tokens (JWT).")
    jwt_jwks_url: str | None = Field(None, description="JWKS URL of the identity provider (keys cached).")
    jwt_jwks_cache_s: int = Field(300, ge=1, description="How long keys fetched from the JWKS URL are kept.")
    jwt_hs256_secret: SecretStr | None = Field(
        None, min_length=32, description="Shared secret for HS256 tokens, at least 32 characters (simple setups; "
        "prefer a JWKS with RS256/ES256).")
    jwt_issuer: str | None = Field(None, description="Required `iss` claim of bearer tokens (unset: not checked).")
    jwt_audience: str | None = Field(None, description="Required `aud` claim of bearer tokens (unset: not checked).")
    jwt_algorithms: str = Field("RS256,ES256", description="Asymmetric algorithms accepted with JWKS keys "
                                "(HS256 is added when a secret is set).")
    jwt_leeway_s: float = Field(30.0, ge=0, le=600, description="Clock skew allowed on exp/nbf/iat, in seconds.")
    redis_url: str | None = Field(
        None, description="Redis shared by gateway replicas (redis://host:6379/0): rate-limit counters, the "
        "result cache and the job queue. Unset: limits and cache in memory, jobs unavailable.")
    rate_limits_enabled: bool = Field(True, description="Apply rate limits per caller and route.")
    rate_limit_default: str = Field(
        "6000/minute", description="Limit of every /v1 route per caller (key or token subject), in the `limits` "
        "notation (`100/minute;10/second`).")
    rate_limits: dict[str, str] = Field(
        default_factory=dict, description='JSON map of route rule to limit, overriding the default for that route '
        'and those under it, e.g. {"/v1/embeddings": "120/minute", "/v1/jobs": "10/minute"}.')
    rate_limit_strategy: Literal["fixed-window", "moving-window", "sliding-window-counter"] = Field(
        "fixed-window", description="Counting strategy of the `limits` library.")
    cache_enabled: bool = Field(True, description="Serve repeated requests from the result cache.")
    cache_routes: list[str] = Field(
        default_factory=lambda: ["/v1/embeddings", "/v1/images/captions", "/v1/images/classifications",
                                 "/v1/images/ocr", "/v1/images/questions", "/v1/audio/transcriptions",
                                 "/v1/chat/completions"],
        description="JSON list of POST routes whose successful answers are cached (chat completions only when "
        "not streamed and greedy (temperature 0) or seeded).")
    cache_ttl_s: int = Field(3600, ge=1, description="How long a cached result is kept, in seconds.")
    cache_max_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="Size bound of the in-memory cache (least recently used entries "
        "leave first); with Redis, bound it there (maxmemory + allkeys-lru).")
    cache_max_entry_bytes: int = Field(8 * 1024 * 1024, ge=1, description="Largest answer that is cached.")
    cache_version_ttl_s: float = Field(
        30.0, gt=0, description="How long an upstream's model list (the model version in cache keys) is trusted.")
    cache_per_caller: bool = Field(
        False, description="Keep each caller's cached results apart (no cross-tenant hits, at a lower hit rate).")
    jobs_queue: str = Field("polyserve-jobs", description="Name of the Redis queue of asynchronous jobs.")
    job_timeout_s: float = Field(3600.0, gt=0, description="Longest one asynchronous job may run.")
    job_result_ttl_s: int = Field(86400, ge=1, description="How long a job's result (or failure) is kept.")
    job_max_body_bytes: int = Field(
        512 * 1024 * 1024, ge=1024, description="Largest job submission accepted (413 above).")
    job_max_attempts: int = Field(
        3, ge=1, le=100, description="Runs a job gets when its worker stops or crashes under it, or its route fails "
        "on the server's side (5xx); a job refused for its input (4xx) is not run again.")
    job_retry_delays_s: list[int] = Field(
        default_factory=lambda: [5, 30, 120], description="JSON list: seconds a job waits before its second, "
        "third, ... run (the last one repeats); time for an overloaded or restarting upstream to recover.")
    job_shutdown_grace_s: float = Field(
        30.0, ge=0, description="How long a worker asked to stop (SIGTERM) lets its running job finish before it "
        "stops the job and puts it back in the queue.")
    job_monitoring_interval_s: int = Field(
        10, ge=1, le=300, description="How often a worker's heartbeat says its job still runs; a job whose worker "
        "died is put back in the queue about 60 s after the last heartbeat.")
    tls_cert_file: str | None = Field(None, description="PEM certificate chain: serve HTTPS (needs the key too).")
    tls_key_file: str | None = Field(None, description="PEM private key of the TLS certificate.")
    upstream_connect_timeout_s: float = Field(2.0, gt=0, description="Connect timeout to an upstream service.")
    upstream_pool_size: int = Field(128, ge=1, description="Pooled connections per upstream service (kept open and "
                                    "reused; as many as request threads).")
    max_embedding_inputs: int = Field(2048, ge=1, description="Most inputs one embeddings request may carry.")
    embedding_chunk_size: int = Field(
        64, ge=1, description="Inputs per upstream call; a larger request is split into parallel calls."
    )
    coalesce_flights: int = Field(
        1, ge=0, le=64, description="Text embedding calls in flight per model and options before further small "
        "requests (see `GATEWAY_COALESCE_MAX_INPUTS`) wait for one to land and then leave together as one call (each "
        "still answered on its own); 0 sends every request alone. Most of a small request's cost is per call: one "
        "shared call saves the hop and the encoder's intake, and lets the encoder batch what would have waited in "
        "its queue anyway."
    )
    coalesce_max_inputs: int = Field(
        8, ge=1, description="Largest request (inputs) that is coalesced; larger ones are sent on their own, since "
        "their per-call cost is small beside their model time and waiting for a shared call would delay them."
    )
    auth_disabled: bool = Field(False, description="Serve /v1 without API keys (local experiments only).")
    ready_requires: str = Field(
        "text", description="Comma-separated upstreams that must be ready for the gateway's /readyz to say ready."
    )

    @field_validator("rate_limit_default")
    @classmethod
    def _limit_parses(cls, value: str) -> str:
        limits.parse_many(value)  # a ValueError names the bad string at startup, not at the first request
        return value

    @field_validator("rate_limits")
    @classmethod
    def _limits_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for limit in value.values():
            limits.parse_many(limit)
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> GatewaySettings:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE must be set together")
        return self

    if TYPE_CHECKING:  # generated with the <name>_url fields, one per upstream in the catalog
        def upstream_urls(self) -> dict[str, str]: ...

    def gunicorn_options(self) -> dict[str, Any]:
        """HTTPS when a certificate and key are configured; plain HTTP otherwise (or behind a TLS ingress)."""
        if not self.tls_cert_file:
            return {}
        return {"certfile": self.tls_cert_file, "keyfile": self.tls_key_file}
