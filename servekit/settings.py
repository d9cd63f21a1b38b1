"""Typed, frozen settings read from prefixed environment variables at app creation.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix`` (``TEXT_``, ``VISION_``, ...).
Values shared by the whole deployment (the internal token) use the ``POLYSERVE_`` prefix.
Every field carries a description: ``python -m servekit.settings_doc`` prints the configuration reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, create_model
from pydantic_settings import BaseSettings, SettingsConfigDict

from servekit.catalog import SERVICES
from servekit.device import CpuBf16

if TYPE_CHECKING:
    from servekit.models import ModelSpec

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class ServiceSettings(BaseSettings):
    """What every service and the gateway share: binding, limits, logging and service-to-service auth."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", description="Address the server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port the server listens on.")
    threads: int = Field(16, ge=1, le=512, description="Request threads of the WSGI server; enough to fill a batch.")
    log_level: LogLevel = Field("INFO", description="Log level of the JSON logs.")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above).")
    request_timeout_s: float = Field(30.0, gt=0, description="Longest a request may wait for its result (504 after).")
    internal_token: str | None = Field(
        None,
        validation_alias="POLYSERVE_INTERNAL_TOKEN",
        description="Shared secret for service-to-service calls (header X-Internal-Token). "
        "Unset disables the check; set it in every deployment.",
    )
    require_internal_token: bool = Field(
        True, description="Whether this service demands the internal token (the gateway sets this false)."
    )

    def gunicorn_options(self) -> dict[str, Any]:
        """Server options this service adds to the kernel's (the gateway's TLS files, say)."""
        return {}


class ModelRuntimeSettings(ServiceSettings):
    """Settings of a service that runs models: device, threads and the micro-batcher."""

    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$", description="auto, cpu, cuda or cuda:N.")
    torch_threads: int = Field(0, ge=0, description="torch intra-op threads; 0 keeps torch's default.")
    fp16: bool = Field(True, description="Run in float16 on CUDA (always float32 on CPU).")
    cpu_bf16: CpuBf16 = Field(
        "auto", description="On the CPU, run the forward pass under torch's bfloat16 autocast (linear layers' "
        "weights kept in bfloat16; pooling and normalisation in float32), for the backends that support it "
        "(sentence-transformers text models): 1.7-2x faster for MiniLM, cosine >= 0.9999 to float32. auto: where "
        "the CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX); on; off: float32 throughout.")
    max_batch_size: int = Field(32, ge=1, le=4096, description="Most items one forward pass takes.")
    max_wait_ms: float = Field(5.0, ge=0, description="Longest an item waits for others to fill its batch.")
    queue_size: int = Field(1024, ge=1, description="Items waiting per model before new work is refused (503).")
    max_queue_ms: float = Field(
        0.0, ge=0, description="Longest expected queue time (learnt from recent batches) new work is admitted "
        "behind; beyond it, or beyond the request's own deadline, it is refused at once with 503 and Retry-After. "
        "0: the deadline alone.")
    max_batch_tokens: int = Field(
        0, ge=0, description="For models that batch by length (text): most padded tokens (items x longest) per "
        "forward pass; 0: only max_batch_size bounds a batch.")
    max_items_per_request: int = Field(256, ge=1, description="Most inputs one request may carry.")
    warmup: bool = Field(True, description="Run one forward pass per model before reporting ready.")

    if TYPE_CHECKING:  # each service declares its own list, with its own default models and description
        models: list[ModelSpec]


def with_upstream_urls(base: type[ServiceSettings], services: tuple[str, ...]) -> type[ServiceSettings]:
    """``base`` plus a ``<name>_url`` field per service it calls (``GATEWAY_TEXT_URL``...), defaulting to where
    the local stack runs it, and ``upstream_urls()``: the callers' fields follow the catalog."""

    def upstream_urls(self: ServiceSettings) -> dict[str, str]:
        return {name: str(getattr(self, f"{name}_url")) for name in services}

    fields: dict[str, Any] = {
        f"{name}_url": (str, Field(SERVICES[name].default_url,
                                   description=f"Base URL of the {name} service ({SERVICES[name].summary})."))
        for name in services
    }
    model = create_model(f"{base.__name__}With{len(services)}Upstreams", __base__=base, **fields)
    model.upstream_urls = upstream_urls  # type: ignore[attr-defined]  # a method of the generated class
    return model
