"""End-to-end fixtures: real service processes on loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.gateway import GatewayStack, gateway_over
from tests.support.processes import ServiceProcess

E2E_KEY = "sk-e2e-key"


@pytest.fixture(scope="session")
def text_stack() -> Iterator[GatewayStack]:
    """A gateway in front of the text service only (other areas start their own upstreams)."""
    with gateway_over({"text": {"TEXT_THREADS": "8"}}, api_keys=E2E_KEY) as stack:
        yield stack


@pytest.fixture(scope="session")
def text_process(text_stack: GatewayStack) -> ServiceProcess:
    return text_stack.services["text"]


@pytest.fixture(scope="session")
def gateway_process(text_stack: GatewayStack) -> ServiceProcess:
    return text_stack.gateway


@pytest.fixture(scope="module")
def gateway(stack: GatewayStack) -> ServiceProcess:
    """The gateway of the module's own ``stack`` fixture."""
    return stack.gateway
