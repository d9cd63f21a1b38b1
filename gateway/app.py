"""The gateway: the one public entry point (authentication, validation, routing, errors, API docs)."""

from __future__ import annotations

import atexit
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask

from gateway.auth import ApiKeyStore, install_api_key_auth, load_keys
from gateway.openapi_doc import bp as openapi_bp
from gateway.routes import audio, embeddings, fusion, images, models
from gateway.settings import GatewaySettings
from gateway.upstreams import build_upstreams
from servekit.app import create_service_app
from servekit.client import ServiceClient

BLUEPRINTS = (embeddings.bp, models.bp, images.bp, audio.bp, fusion.bp, openapi_bp)


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
    app.extensions["upstreams"] = clients
    executor = ThreadPoolExecutor(max_workers=settings.threads * 2, thread_name_prefix="fanout")
    app.extensions["executor"] = executor
    atexit.register(executor.shutdown, wait=False)
    if not settings.auth_disabled:
        install_api_key_auth(app, ApiKeyStore(load_keys(settings)))
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app
