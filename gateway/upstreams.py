"""The gateway's clients of the services behind it, one pooled ServiceClient each."""

from __future__ import annotations

from flask import current_app

from gateway.settings import GatewaySettings
from servekit.client import ServiceClient, build_clients


def build_upstreams(settings: GatewaySettings) -> dict[str, ServiceClient]:
    return build_clients(settings)


def upstream(name: str) -> ServiceClient:
    """The client of upstream ``name`` in the current app."""
    clients: dict[str, ServiceClient] = current_app.extensions["upstreams"]
    return clients[name]
