"""Where cached results live: Redis (shared by replicas, expiring keys) or a bounded in-memory TTL cache."""

from __future__ import annotations

import threading
from typing import Protocol

import redis
from cachetools import TTLCache

from gateway.settings import GatewaySettings


class ResultStore(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes) -> None: ...

    def clear(self) -> int: ...


class MemoryStore:
    """Least-recently-used eviction once ``max_bytes`` of values are held; each entry expires after ``ttl_s``."""

    def __init__(self, max_bytes: int, ttl_s: float) -> None:
        self._cache: TTLCache[str, bytes] = TTLCache(maxsize=max_bytes, ttl=ttl_s, getsizeof=len)
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._cache.get(key)

    def put(self, key: str, value: bytes) -> None:
        if len(value) > self._cache.maxsize:
            return
        with self._lock:
            self._cache[key] = value

    def clear(self) -> int:
        with self._lock:
            count = len(self._cache)
            self._cache.clear()
        return count

    @property
    def size_bytes(self) -> int:
        return int(self._cache.currsize)


class RedisStore:
    """Keys under one prefix with a TTL; the size bound is Redis's own (``maxmemory`` + ``allkeys-lru``)."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_s = ttl_s

    def get(self, key: str) -> bytes | None:
        value = self._client.get(self._prefix + key)
        return value if isinstance(value, bytes) else None

    def put(self, key: str, value: bytes) -> None:
        self._client.set(self._prefix + key, value, ex=self._ttl_s)

    def clear(self) -> int:
        count = 0
        for name in self._client.scan_iter(match=self._prefix + "*", count=500):
            count += int(self._client.delete(name))
        return count


CACHE_PREFIX = "polyserve:cache:"


def build_store(settings: GatewaySettings) -> ResultStore:
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return RedisStore(client, CACHE_PREFIX, settings.cache_ttl_s)
    return MemoryStore(settings.cache_max_bytes, settings.cache_ttl_s)
