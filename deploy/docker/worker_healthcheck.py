"""Container health check of the job worker: healthy while an rq worker of this container is registered in Redis.

The worker serves no HTTP, so the check asks Redis (``GATEWAY_REDIS_URL``, as the worker reads it) whether a
worker whose hostname is this container's is registered; rq refreshes that registration while the worker runs
and drops it when the worker stops. Exit 0 when healthy, 1 otherwise. Usage: ``worker_healthcheck.py``.
"""

from __future__ import annotations

import os
import socket
import sys

import redis
from rq import Worker


def registered_here(redis_url: str, hostname: str) -> bool:
    """True when Redis answers and lists a worker started on ``hostname``."""
    try:
        connection = redis.Redis.from_url(redis_url, socket_timeout=4, socket_connect_timeout=4)
        return any(worker.hostname == hostname for worker in Worker.all(connection=connection))
    except redis.RedisError:
        return False


def main() -> int:
    url = os.environ.get("GATEWAY_REDIS_URL", "")
    if not url:
        print("GATEWAY_REDIS_URL is not set: the job worker cannot run", file=sys.stderr)
        return 1
    return 0 if registered_here(url, socket.gethostname()) else 1


if __name__ == "__main__":
    sys.exit(main())
