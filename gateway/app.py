"""The gateway: the one public entry point (authentication, validation, routing, errors, API docs).

Every request passes, in this order: the kernel (request id, deadline, metrics, tracing), authentication and
the route's scope, the rate limiter, the result cache, then the route.
"""

from __future__ import annotations

import atexit
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask

from gateway.auth import build_authenticator, install_auth
from gateway.cache import install_result_cache
from gateway.cache_store import build_store
from gateway.console import bp as console_bp
from gateway.intake import install_strict_intake
from gateway.jobs import install_jobs
from gateway.limits import install_rate_limits
from gateway.openapi_doc import bp as openapi_bp
from gateway.routes import admin, audio, chat, embeddings, fusion, images, models, rerank
from gateway.settings import GatewaySettings
from gateway.upstreams import EMBED_COALESCER, FANOUT_EXECUTOR, UPSTREAM_CLIENTS, build_upstreams
from servekit.app import create_service_app
from servekit.client import ServiceClient
from servekit.coalescing import Coalescer

BLUEPRINTS = (embeddings.bp, models.bp, images.bp, audio.bp, chat.bp, fusion.bp, rerank.bp, admin.bp, openapi_bp,
              console_bp)


def _ready_check(settings: GatewaySettings, clients: dict[str, ServiceClient]) -> Any:
    required = [name.strip() for name in settings.ready_requires.split(",") if name.strip()]

    def check() -> tuple[bool, dict[str, Any]]:
        states = {name: clients[name].is_ready() for name in required}
        return all(states.values()), {"upstreams": {k: ("ready" if v else "not_ready") for k, v in states.items()}}

    return check


def create_app(settings: GatewaySettings | None = None) -> Flask:
    settings = settings or GatewaySettings()
    clients = build_upstreams(settings)
    app = create_service_app("gateway", settings, ready_check=_ready_check(settings, clients))
    UPSTREAM_CLIENTS.set(app, clients)
    executor = ThreadPoolExecutor(max_workers=settings.threads * 2, thread_name_prefix="fanout")
    FANOUT_EXECUTOR.set(app, executor)
    atexit.register(executor.shutdown, wait=False)
    if settings.coalesce_flights:
        EMBED_COALESCER.set(app, Coalescer(max_items=settings.embedding_chunk_size,
                                           max_flights=settings.coalesce_flights, split=embeddings.split_answer))
    if not settings.auth_disabled:
        install_auth(app, build_authenticator(settings))
    install_rate_limits(app, settings)
    install_jobs(app, settings)  # before the intake: it raises the body limit of job submissions
    install_strict_intake(app)
    if settings.cache_enabled:
        install_result_cache(app, settings, build_store(settings))
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app
