"""OpenTelemetry tracing, off unless ``POLYSERVE_OTEL_EXPORTER`` says otherwise.

Every service's Flask app is instrumented (a server span per request, continuing the caller's W3C
``traceparent``), and so is ``urllib3`` (a client span per upstream call, ``traceparent`` injected), so one
trace spans gateway -> fusion -> encoder. ``urllib3`` rather than ``requests``: the service client sends its
buffered calls through urllib3's pool directly, and ``requests`` sends the others through urllib3 too, so every
call gets exactly one client span. Spans carry methods, routes, statuses and the request id, never
bodies: payloads stay out of traces as they stay out of logs.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Literal

from flask import Flask, g
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:  # OpenTelemetry is imported only when tracing is on
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

EXCLUDED_URLS = "healthz,readyz,metrics"
REQUEST_ID_ATTRIBUTE = "polyserve.request_id"


class TracingSettings(BaseSettings):
    """Shared by every service of a deployment (prefix ``POLYSERVE_OTEL_``)."""

    model_config = SettingsConfigDict(env_prefix="POLYSERVE_OTEL_", frozen=True, extra="ignore")

    exporter: Literal["none", "console", "otlp"] = Field(
        "none", description="Where spans go: none (tracing off), console (one JSON line per span on stderr) or "
        "otlp (OTLP over HTTP to POLYSERVE_OTEL_ENDPOINT).")
    endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces (unset: the "
        "exporter's default, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).")
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0, description="Share of new traces recorded; a caller's "
                                "sampling decision is followed.")


def _processor(settings: TracingSettings) -> SpanProcessor:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    if settings.exporter == "console":
        exporter = ConsoleSpanExporter(out=sys.stderr, formatter=lambda span: span.to_json(indent=None) + "\n")
        return SimpleSpanProcessor(exporter)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.endpoint) if settings.endpoint
                              else OTLPSpanExporter())


def build_provider(service: str, settings: TracingSettings) -> TracerProvider:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(resource=Resource.create({"service.name": f"polyserve-{service}"}),
                              sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)))
    provider.add_span_processor(_processor(settings))
    return provider


_lock = threading.Lock()
_process_provider: list[TracerProvider] = []  # one per process: the urllib3 instrumentation is process-wide


def instrument_app(app: Flask, provider: TracerProvider) -> None:
    """Server spans for ``app``, client spans (with ``traceparent``) for every upstream call."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    FlaskInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS)
    with _lock:
        client_instrumentor = URLLib3Instrumentor()
        if not client_instrumentor.is_instrumented_by_opentelemetry:
            client_instrumentor.instrument(tracer_provider=provider)

    @app.before_request
    def _tag_request_id() -> None:
        trace.get_current_span().set_attribute(REQUEST_ID_ATTRIBUTE, g.get("request_id") or "")


def install_tracing(app: Flask, service: str, settings: TracingSettings | None = None) -> None:
    """Instrument ``app`` when an exporter is configured; nothing at all otherwise."""
    settings = settings or TracingSettings()
    if settings.exporter == "none":
        return
    with _lock:
        if not _process_provider:
            _process_provider.append(build_provider(service, settings))
        provider = _process_provider[0]
    instrument_app(app, provider)
