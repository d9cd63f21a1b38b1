"""The production gateway's costs: a result-cache hit beside a miss for text embeddings, and the latency that
authentication and rate limiting add per request.

Starts Redis, the text service and gateways as real processes on loopback. Cache: closed-loop clients send
either always-new texts (every request a miss, computed by the encoder) or one repeated request (every request a
hit). Auth + limiter: the same cache-hit request against four gateways (no auth and no limiter; an API key and
an in-memory limiter; an RS256 JWT and an in-memory limiter; an RS256 JWT with the limiter and cache in Redis),
interleaved; the p50 difference is what they add.
Run: ``python bench/bench_gateway.py``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import LoadResult, closed_loop, machine  # noqa: E402
from tests.support.processes import ServiceProcess, start_service  # noqa: E402
from tests.support.redis_server import redis_server  # noqa: E402
from tests.support.tokens import AUDIENCE, ISSUER, TokenMint  # noqa: E402

KEY = "sk-bench"
MODEL = "all-MiniLM-L6-v2"


def _sender(url: str, headers: dict[str, str], texts: Callable[[], list[str]]) -> Callable[[], int]:
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))

    def send() -> int:
        batch = texts()
        response = session.post(url, json={"model": MODEL, "input": batch}, headers=headers, timeout=60)
        return len(batch) if response.status_code == 200 else 0

    return send


def _report(label: str, result: LoadResult) -> None:
    print(f"{label:<34s} c={result.concurrency:<3d} {result.requests / result.seconds:8.1f} req/s  "
          f"p50 {result.percentile_ms(50):7.2f} ms  p95 {result.percentile_ms(95):7.2f} ms  errors {result.errors}")


def cache_hit_vs_miss(gateway: ServiceProcess, seconds: float, batch: int, concurrency: list[int]) -> None:
    url, headers = f"{gateway.url}/v1/embeddings", {"Authorization": f"Bearer {KEY}"}
    counter = itertools.count()

    def fresh() -> list[str]:
        n = next(counter)
        return [f"benchmark sentence {n}-{k} about a cache that has never seen it" for k in range(batch)]

    repeated = fresh()
    requests.post(url, json={"model": MODEL, "input": repeated}, headers=headers, timeout=60)  # fill the entry
    for clients in concurrency:
        miss = closed_loop(_sender(url, headers, fresh), concurrency=clients, duration_s=seconds)
        hit = closed_loop(_sender(url, headers, lambda: repeated), concurrency=clients, duration_s=seconds)
        _report(f"cache miss ({batch} texts/request)", miss)
        _report(f"cache hit  ({batch} texts/request)", hit)
        print(f"  hit/miss: {hit.requests / hit.seconds / (miss.requests / miss.seconds):.1f}x throughput, "
              f"p50 {miss.percentile_ms(50) / hit.percentile_ms(50):.1f}x lower")


def auth_and_limiter_cost(gateways: dict[str, tuple[ServiceProcess, dict[str, str]]], rounds: int) -> None:
    """Sequential cache hits, interleaved across the gateways (one request each per round) so that load from
    elsewhere on the machine hits every configuration alike."""
    body = {"model": MODEL, "input": ["one cached sentence for the auth benchmark"]}
    sessions = {label: requests.Session() for label in gateways}
    latencies: dict[str, list[float]] = {label: [] for label in gateways}

    def call(label: str) -> float:
        gateway, headers = gateways[label]
        started = time.perf_counter()
        response = sessions[label].post(f"{gateway.url}/v1/embeddings", json=body, headers=headers, timeout=60)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text
        return elapsed

    for label in gateways:  # fill each cache, warm connections and code paths
        for _ in range(50):
            call(label)
    for _ in range(rounds):
        for label in gateways:
            latencies[label].append(call(label))
    p50 = {}
    for label, values in latencies.items():
        values.sort()
        p50[label] = 1000 * values[len(values) // 2]
        print(f"{label:<44s} p50 {p50[label]:6.3f} ms  p95 {1000 * values[int(len(values) * 0.95)]:6.3f} ms")
    base_label = next(iter(gateways))
    for label, value in p50.items():
        if label != base_label:
            print(f"  added by {label}: {value - p50[base_label]:+.3f} ms p50")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=6.0, help="duration of each cache measurement")
    parser.add_argument("--batch", type=int, default=8, help="texts per embeddings request")
    parser.add_argument("--concurrency", default="1,8", help="comma-separated client counts")
    parser.add_argument("--auth-rounds", type=int, default=1000, help="requests per auth configuration")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"machine: {machine()}")
    mint = TokenMint.generate()
    jwks = mint.write_jwks(Path(tempfile.mkdtemp()) / "jwks.json")
    with redis_server() as redis_url:
        text = start_service("text", {"TEXT_THREADS": "16"})
        common = {"GATEWAY_TEXT_URL": text.url, "GATEWAY_RATE_LIMIT_DEFAULT": "1000000/minute"}
        plain = start_service("gateway", {**common, "GATEWAY_AUTH_DISABLED": "true",
                                          "GATEWAY_RATE_LIMITS_ENABLED": "false"})
        keyed = start_service("gateway", {**common, "GATEWAY_API_KEYS": KEY})
        jwt_env = {"GATEWAY_JWT_JWKS_FILE": str(jwks), "GATEWAY_JWT_ISSUER": ISSUER,
                   "GATEWAY_JWT_AUDIENCE": AUDIENCE, "GATEWAY_REDIS_URL": redis_url}
        jwt_memory = start_service("gateway", {**common, **jwt_env, "GATEWAY_REDIS_URL": ""})
        jwt_redis = start_service("gateway", {**common, **jwt_env})
        try:
            print("\n== result cache, text embeddings (in-memory cache, API key, in-memory limiter) ==")
            cache_hit_vs_miss(keyed, args.seconds, args.batch, [int(c) for c in args.concurrency.split(",")])
            print("\n== authentication + rate limiter, per request (sequential cache hits) ==")
            token = mint.token("embeddings", ttl_s=3600)
            auth_and_limiter_cost({
                "no auth, no limiter": (plain, {}),
                "API key + in-memory limiter": (keyed, {"Authorization": f"Bearer {KEY}"}),
                "RS256 JWT + in-memory limiter": (jwt_memory, {"Authorization": f"Bearer {token}"}),
                "RS256 JWT + Redis limiter (+ Redis cache)": (jwt_redis, {"Authorization": f"Bearer {token}"}),
            }, args.auth_rounds)
        finally:
            for process in (plain, keyed, jwt_memory, jwt_redis, text):
                process.stop()


if __name__ == "__main__":
    main()
