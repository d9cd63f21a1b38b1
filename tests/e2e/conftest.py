"""End-to-end fixtures: real service processes on loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import ServiceProcess, start_service

E2E_KEY = "sk-e2e-key"


@pytest.fixture(scope="session")
def text_process() -> Iterator[ServiceProcess]:
    service = start_service("text", {"TEXT_THREADS": "8"})
    yield service
    service.stop()


@pytest.fixture(scope="session")
def gateway_process(text_process: ServiceProcess) -> Iterator[ServiceProcess]:
    """A gateway in front of the text service only (other areas start their own upstreams)."""
    service = start_service("gateway", {"GATEWAY_API_KEYS": E2E_KEY, "GATEWAY_TEXT_URL": text_process.url})
    yield service
    service.stop()
