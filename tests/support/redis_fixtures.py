"""Pytest fixtures over :mod:`tests.support.redis_server`; import them into a test module to use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.redis_server import redis_server


@pytest.fixture(scope="session")
def redis_base_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
def redis_url(redis_base_url: str) -> str:
    """The session's Redis, emptied for this test."""
    redis.Redis.from_url(redis_base_url).flushall()
    return redis_base_url
