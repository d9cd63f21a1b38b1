"""One trace spans gateway -> encoder: W3C traceparent travels on upstream calls, spans carry no payloads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.app import create_app
from servekit.tracing import REQUEST_ID_ATTRIBUTE, TracingSettings, install_tracing, instrument_app
from services.text.app import create_app as create_text_app
from services.text.settings import TextSettings
from tests.support.gateway import gateway_settings
from tests.support.inprocess import serve_app

SECRET_TEXT = "tracing-canary-7f3a9 the violet heron sings"
TOKEN = "trace-internal-token"


@pytest.fixture(scope="module")
def traced() -> Iterator[tuple[Flask, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    text = create_text_app(TextSettings(internal_token=TOKEN, warmup=False), load_in_background=False)
    instrument_app(text, provider)
    with serve_app(text) as text_url:
        gateway = create_app(gateway_settings({"text": text_url}, api_keys="sk-trace", internal_token=TOKEN))
        instrument_app(gateway, provider)
        yield gateway, exporter
    URLLib3Instrumentor().uninstrument()


def test_one_trace_spans_the_gateway_and_the_encoder(traced: tuple[Flask, InMemorySpanExporter]) -> None:
    gateway, exporter = traced
    exporter.clear()
    response = gateway.test_client().post(
        "/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": [SECRET_TEXT]},
        headers={"Authorization": "Bearer sk-trace", "X-Request-ID": "trace-req-1"})
    assert response.status_code == 200
    spans = exporter.get_finished_spans()
    servers = {s.name: s for s in spans if s.kind.name == "SERVER"}
    clients = [s for s in spans if s.kind.name == "CLIENT"]
    assert {"POST /v1/embeddings", "POST /v1/embed"} <= set(servers)
    gateway_span, encoder_span = servers["POST /v1/embeddings"], servers["POST /v1/embed"]
    trace_id = gateway_span.context.trace_id
    assert encoder_span.context.trace_id == trace_id
    embed_calls = [c for c in clients if c.context.trace_id == trace_id
                   and c.parent is not None and encoder_span.parent is not None
                   and c.context.span_id == encoder_span.parent.span_id]
    assert len(embed_calls) == 1  # the encoder's span continues the gateway's client span (traceparent)
    assert gateway_span.attributes[REQUEST_ID_ATTRIBUTE] == "trace-req-1"
    assert encoder_span.attributes[REQUEST_ID_ATTRIBUTE] == "trace-req-1"


def test_spans_never_carry_the_payload(traced: tuple[Flask, InMemorySpanExporter]) -> None:
    gateway, exporter = traced
    exporter.clear()
    gateway.test_client().post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": SECRET_TEXT},
                               headers={"Authorization": "Bearer sk-trace"})
    dumped = "".join(span.to_json() for span in exporter.get_finished_spans())
    assert dumped and "violet heron" not in dumped and "canary" not in dumped


def test_tracing_is_off_by_default() -> None:
    assert TracingSettings().exporter == "none"
    app = Flask("untraced")
    install_tracing(app, "untraced", TracingSettings())
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
