"""The stores behind the result cache: bounded, expiring memory; Redis with a TTL under one prefix."""

from __future__ import annotations

import time

import redis

from gateway.cache_store import CACHE_PREFIX, MemoryStore, RedisStore, build_store
from gateway.settings import GatewaySettings

pytest_plugins = ["tests.support.redis_fixtures"]


def test_memory_store_is_bounded_in_bytes_and_evicts_the_least_recently_used() -> None:
    store = MemoryStore(max_bytes=100, ttl_s=60)
    store.put("a", b"x" * 40)
    store.put("b", b"y" * 40)
    assert store.get("a") == b"x" * 40  # a is now the most recently used
    store.put("c", b"z" * 40)
    assert store.get("b") is None and store.get("a") is not None and store.get("c") is not None
    assert store.size_bytes <= 100
    store.put("huge", b"h" * 101)
    assert store.get("huge") is None


def test_memory_store_entries_expire() -> None:
    store = MemoryStore(max_bytes=1000, ttl_s=0.2)
    store.put("k", b"v")
    assert store.get("k") == b"v"
    time.sleep(0.3)
    assert store.get("k") is None
    store.put("k2", b"v")
    assert store.clear() == 1


def test_redis_store_sets_a_ttl_and_clears_only_its_prefix(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("unrelated", b"keep")
    store = build_store(GatewaySettings(redis_url=redis_url, cache_ttl_s=120))
    assert isinstance(store, RedisStore)
    store.put("k", b"value")
    assert store.get("k") == b"value" and store.get("missing") is None
    assert 0 < int(client.ttl(CACHE_PREFIX + "k")) <= 120
    assert store.clear() == 1
    assert store.get("k") is None and client.get("unrelated") == b"keep"
