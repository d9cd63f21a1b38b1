"""Prometheus metrics, one registry per app so that several apps can live in one test process."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServiceMetrics:
    """The metrics every service exports; model metrics are labelled by model name and stage."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total", "HTTP requests by route, method and status.",
            ["service", "route", "method", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency by route.",
            ["service", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.batch_size = Histogram(
            "batch_size", "Items per forward pass.", ["service", "model"], buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "batch_queue_depth", "Items waiting for a forward pass.", ["service", "model"], registry=self.registry,
        )
        self.model_seconds = Histogram(
            "model_duration_seconds", "Time spent in a model per batch, by stage.",
            ["service", "model", "stage"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.rejected = Counter(
            "batch_rejected_total", "Items refused because the queue was full.", ["service", "model"],
            registry=self.registry,
        )
        self.service = service

    def observe_batch(self, model: str, size: int, seconds: float, stage: str = "batch") -> None:
        """One batch as the batcher ran it (all its stages): its size, and its time under the stage ``batch``, apart
        from the backend's own ``forward`` timings, which it would otherwise count twice."""
        self.batch_size.labels(self.service, model).observe(size)
        self.model_seconds.labels(self.service, model, stage).observe(seconds)

    def set_queue_depth(self, model: str, depth: int) -> None:
        self.queue_depth.labels(self.service, model).set(depth)

    def count_rejected(self, model: str, n: int) -> None:
        self.rejected.labels(self.service, model).inc(n)

    def install(self, app: Flask) -> None:
        """Time every request and expose ``GET /metrics``."""

        @app.before_request
        def _start_timer() -> None:
            g.metrics_start = time.perf_counter()

        @app.after_request
        def _record(response: Response) -> Response:
            route = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
            self.requests.labels(self.service, route, request.method, str(response.status_code)).inc()
            start = g.get("metrics_start")
            if start is not None:
                self.latency.labels(self.service, route).observe(time.perf_counter() - start)
            return response

        def metrics_endpoint() -> Response:
            return Response(generate_latest(self.registry), mimetype=CONTENT_TYPE_LATEST)

        app.add_url_rule("/metrics", "metrics", metrics_endpoint, methods=["GET"])
