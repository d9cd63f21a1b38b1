"""Load for the peer benchmark: closed-loop clients and open-loop (fixed arrival rate) overload, counting answers,
refusals (503/429 with ``Retry-After``) and failures apart, over one pooled HTTP session per client thread."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

REFUSED = frozenset({429, 503})


@dataclass(frozen=True)
class Outcome:
    status: int  # 0: no HTTP answer (connection error or client timeout)
    items: int
    seconds: float
    retry_after: str | None = None


@dataclass
class LoadResult:
    """What one load level produced; latencies in seconds."""

    seconds: float
    ok: list[float] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)
    failed: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    items: int = 0
    retry_after: set[str] = field(default_factory=set)

    def add(self, outcome: Outcome) -> None:
        self.statuses[outcome.status] += 1
        if outcome.status == 200:
            self.ok.append(outcome.seconds)
            self.items += outcome.items
        elif outcome.status in REFUSED:
            self.refused.append(outcome.seconds)
            if outcome.retry_after:
                self.retry_after.add(outcome.retry_after)
        else:
            self.failed += 1

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    def ms(self, q: float, values: Sequence[float] | None = None) -> float:
        ordered = sorted(self.ok if values is None else values)
        if not ordered:
            return float("nan")
        return 1000 * ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class Sender:
    """POSTs ``inputs`` consecutive sentences per request to an embeddings endpoint, cycling through the corpus in
    the same order for every server, with one keep-alive session per client thread."""

    def __init__(self, url: str, headers: dict[str, str], model: str, corpus: Sequence[str], inputs: int,
                 *, encoding_format: str = "float", timeout_s: float = 60.0) -> None:
        self.url, self.model, self.corpus, self.inputs = url, model, list(corpus), inputs
        self.headers = {"Content-Type": "application/json", "Cache-Control": "no-store", **headers}
        self.encoding_format = encoding_format
        self.timeout_s = timeout_s
        self._counter = itertools.count()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def batch(self) -> list[str]:
        start = next(self._counter) * self.inputs
        return [self.corpus[(start + k) % len(self.corpus)] for k in range(self.inputs)]

    def send(self, extra_headers: dict[str, str] | None = None) -> Outcome:
        body: dict[str, Any] = {"model": self.model, "input": self.batch(), "encoding_format": self.encoding_format}
        started = time.perf_counter()
        try:
            response = self._session().post(self.url, json=body, headers={**self.headers, **(extra_headers or {})},
                                            timeout=self.timeout_s)
        except requests.RequestException:
            return Outcome(0, 0, time.perf_counter() - started)
        items = len(response.json()["data"]) if response.status_code == 200 else 0
        return Outcome(response.status_code, items, time.perf_counter() - started,
                       response.headers.get("Retry-After"))


def closed_loop(send: Callable[[], Outcome], clients: int, seconds: float) -> LoadResult:
    """``clients`` threads each send, wait for the answer, and send again, for ``seconds``."""
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds
    outcomes: list[Outcome] = []

    def client() -> None:
        while time.perf_counter() < stop_at:
            outcome = send()
            with lock:
                outcomes.append(outcome)
            if outcome.status in REFUSED:  # as the openai client does: back off before retrying
                time.sleep(min(1.0, float(outcome.retry_after or 1)))

    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = LoadResult(time.perf_counter() - started)
    for outcome in outcomes:
        result.add(outcome)
    return result


def open_loop(send: Callable[[], Outcome], rate_per_s: float, seconds: float, max_in_flight: int = 256
              ) -> LoadResult:
    """Requests start at a fixed rate whatever the answers, as independent users would send them (overload).
    A request's latency counts from its scheduled start, so time spent waiting for a free client thread counts too."""
    count = max(1, int(rate_per_s * seconds))
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    started = time.perf_counter()

    def fire(scheduled: float) -> None:
        outcome = send()
        late = max(0.0, time.perf_counter() - outcome.seconds - scheduled)
        with lock:
            outcomes.append(Outcome(outcome.status, outcome.items, outcome.seconds + late, outcome.retry_after))

    with ThreadPoolExecutor(max_workers=max_in_flight) as pool:
        for index in range(count):
            scheduled = started + index / rate_per_s
            time.sleep(max(0.0, scheduled - time.perf_counter()))
            pool.submit(fire, scheduled)
    result = LoadResult(max(seconds, time.perf_counter() - started))
    for outcome in outcomes:
        result.add(outcome)
    return result
