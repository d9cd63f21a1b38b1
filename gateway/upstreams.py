"""The gateway's clients of the services behind it, one pooled ServiceClient each."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from gateway.settings import GatewaySettings
from servekit.client import ServiceClient, build_clients
from servekit.coalescing import Coalescer
from servekit.slots import AppSlot

UPSTREAM_CLIENTS: AppSlot[dict[str, ServiceClient]] = AppSlot("upstreams")
# Threads of parallel upstream calls (chunks of a large request, model lists of every upstream).
FANOUT_EXECUTOR: AppSlot[Executor] = AppSlot("executor")
# Concurrent small embeddings requests for the same model, sent upstream together (absent when turned off).
EMBED_COALESCER: AppSlot[Coalescer[str, dict[str, Any]]] = AppSlot("embed_coalescer")


def build_upstreams(settings: GatewaySettings) -> dict[str, ServiceClient]:
    return build_clients(settings)


def upstream(name: str) -> ServiceClient:
    """The client of upstream ``name`` in the current app."""
    return UPSTREAM_CLIENTS.current()[name]
