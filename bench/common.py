"""Shared bench helpers: latency percentiles, a bounded closed-loop load generator, machine description."""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class LoadResult:
    concurrency: int
    requests: int
    items: int
    seconds: float
    latencies_s: list[float]
    errors: int

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def closed_loop(send: Callable[[], int], *, concurrency: int, duration_s: float, max_requests: int = 100_000
                ) -> LoadResult:
    """``concurrency`` clients each send a request, wait for its answer, and send the next, for ``duration_s``.

    ``send`` returns the number of items the request carried (0 counts as an error).
    """
    latencies: list[float] = []
    counters = {"requests": 0, "items": 0, "errors": 0}
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration_s

    def client() -> None:
        while time.perf_counter() < stop_at:
            with lock:
                if counters["requests"] >= max_requests:
                    return
                counters["requests"] += 1
            started = time.perf_counter()
            try:
                items = send()
            except Exception:  # noqa: BLE001 - counted, the load goes on
                items = 0
            elapsed = time.perf_counter() - started
            with lock:
                if items:
                    latencies.append(elapsed)
                    counters["items"] += items
                else:
                    counters["errors"] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadResult(concurrency, counters["requests"], counters["items"], time.perf_counter() - started,
                      latencies, counters["errors"])


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def sweep_concurrency(send: Callable[[], int], levels: list[int], seconds: float, *, unit: str,
                      request_size: int) -> float:
    """Warm up, then drive ``send`` at each concurrency level, printing items/s, p50 and p99; the best items/s."""
    closed_loop(send, concurrency=2, duration_s=2)  # warm connections and caches
    best = 0.0
    for concurrency in levels:
        result = closed_loop(send, concurrency=concurrency, duration_s=seconds)
        best = max(best, result.items_per_s)
        print(f"  gateway  clients={concurrency:<3d} {result.items_per_s:8.1f} {unit}/s  "
              f"p50 {result.percentile_ms(50):8.1f} ms  p99 {result.percentile_ms(99):8.1f} ms  "
              f"({request_size} {unit}/request, {result.requests} requests, {result.errors} errors)", flush=True)
    return best
