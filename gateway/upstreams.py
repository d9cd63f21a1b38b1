"""The gateway's clients of the services behind it, one pooled ServiceClient each."""

from __future__ import annotations

from flask import current_app

from gateway.settings import GatewaySettings
from servekit.client import ServiceClient

UPSTREAMS = ("text", "vision", "audio", "fusion")


def build_upstreams(settings: GatewaySettings) -> dict[str, ServiceClient]:
    return {
        name: ServiceClient(
            name, getattr(settings, f"{name}_url"), token=settings.internal_token,
            connect_timeout_s=settings.upstream_connect_timeout_s, read_timeout_s=settings.request_timeout_s,
            pool_size=settings.upstream_pool_size,
        )
        for name in UPSTREAMS
    }


def upstream(name: str) -> ServiceClient:
    """The client of upstream ``name`` in the current app."""
    clients: dict[str, ServiceClient] = current_app.extensions["upstreams"]
    return clients[name]
