"""How the micro-batcher forms batches and decides what it can still serve in time.

Length-aware batch formation: items of one round (several requests' worth, taken oldest first) are sorted by their
cost (a text's token count) and cut into batches of similar length, so a short sentence is not padded to the
longest one of its neighbours. A forward pass costs about ``items x longest item`` on a CPU, so this is where
mixed-length traffic gains most (infinity does the same).

Admission control: a :class:`QueueClock` learns the seconds one unit of cost takes from the batches it sees, and
says how long new work would wait behind what is queued and running; the batcher refuses at once (503 with
``Retry-After``) what could not finish before its deadline, instead of letting it wait past it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence

from servekit.errors import Overloaded

# The share of a request's time budget that the expected queue time may take: the estimate is an average learnt
# from past batches, and a machine slows down under admitted work and under a storm of refused requests (measured at
# 10x overload: 28 admitted requests answered 504 with 0.75, 9 with 0.5, 2 with 0.35, which cost goodput at 3x).
ADMISSION_HEADROOM = 0.5


def split_by_cost(costs: Sequence[int], max_batch_size: int, max_batch_cost: int = 0) -> list[list[int]]:
    """Indexes of ``costs`` grouped into batches of ascending cost: at most ``max_batch_size`` items each and, when
    ``max_batch_cost`` is set, at most that padded cost (items x the largest cost in the batch), one item at least."""
    order = sorted(range(len(costs)), key=lambda index: costs[index])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        padded = (len(current) + 1) * max(costs[index], 1)  # ascending: this item is the batch's longest
        if current and (len(current) >= max_batch_size or (max_batch_cost and padded > max_batch_cost)):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


class QueueClock:
    """How long queued work takes, learnt from finished batches: a batch costs about ``overhead + cost x per_unit``
    seconds, fitted by least squares over recent batches (older ones fade out), so that the fixed cost of a small
    batch does not inflate the estimate for a large queue. Thread-safe."""

    def __init__(self, memory: float = 0.95) -> None:
        self._memory = memory
        self._sums = [0.0] * 5  # weight, Σx, Σy, Σxx, Σxy (x: cost, y: seconds)
        self.per_unit_s = 0.0
        self.overhead_s = 0.0
        self._lock = threading.Lock()

    def observe(self, cost: int, seconds: float) -> None:
        if cost <= 0 or seconds <= 0:
            return
        with self._lock:
            sums = [value * self._memory for value in self._sums]
            for index, add in enumerate((1.0, cost, seconds, cost * cost, cost * seconds)):
                sums[index] += add
            self._sums = sums
            self.per_unit_s, self.overhead_s = _fit(sums)

    def expected_s(self, cost_ahead: int, own_cost: int, batches: int = 1) -> float:
        """Seconds until work of ``own_cost`` would be done behind ``cost_ahead``, run as ``batches`` forward passes;
        0 until a batch has been seen."""
        return (cost_ahead + own_cost) * self.per_unit_s + batches * self.overhead_s


def _fit(sums: list[float]) -> tuple[float, float]:
    """(seconds per unit, seconds per batch) from weighted sums; a ratio through the origin until costs vary."""
    weight, sx, sy, sxx, sxy = sums
    spread = weight * sxx - sx * sx
    if spread <= 1e-9 * max(1.0, weight * sxx):
        return sy / sx, 0.0
    slope = (weight * sxy - sx * sy) / spread
    intercept = (sy - slope * sx) / weight
    if slope <= 0 or intercept < 0:  # noise: fall back to the plain ratio
        return sy / sx, 0.0
    return slope, intercept


def retry_after_s(wait_s: float) -> int:
    """Whole seconds a refused client should wait: the expected queue time, at least 1."""
    return max(1, math.ceil(wait_s))


def is_late(wait_s: float, budget_s: float) -> bool:
    """Whether work that waits ``wait_s`` before it starts should be refused under a budget of ``budget_s``."""
    return wait_s > ADMISSION_HEADROOM * budget_s


class QueueMirror:
    """A caller's copy of the queues of the models it calls, from the wait each answer reports
    (``X-Queue-Wait-Ms``), so that it refuses at once what the encoder would refuse, without sending it.

    A queue drains in real time, so the last report less the time since is what the wait is at least now (work
    admitted since only adds). After a refusal the report is the wait the refused request would have met, its own
    work included: the mirror then refuses, under the same rule as the encoder, what the encoder would refuse of a
    request like it (the queue at its admission limit is where every refusal happens, so the work ahead alone would
    never cross the limit). A smaller request may be refused that the encoder would have taken, for at most
    ``fresh_s``: a report older than that refuses nothing, and the next call brings a new one. Under a storm this
    spares each refused request the hop and the encoder's parsing, CPU the admitted work needs. Thread-safe (one
    assignment per report).
    """

    def __init__(self, fresh_s: float = 0.25, clock: Callable[[], float] = time.monotonic) -> None:
        self.fresh_s = fresh_s
        self._clock = clock
        self._reports: dict[str, tuple[float, float]] = {}  # queue -> (wait, when reported)

    def observe(self, queue: str, wait_s: float) -> None:
        self._reports[queue] = (wait_s, self._clock())

    def wait_s(self, queue: str) -> float:
        """The least the queue's work ahead can be now (0 without a fresh report)."""
        wait, reported_at = self._reports.get(queue, (0.0, 0.0))
        elapsed = self._clock() - reported_at
        return max(0.0, wait - elapsed) if elapsed <= self.fresh_s else 0.0

    def refuse_if_late(self, queue: str, budget_s: float, upstream: str) -> None:
        wait = self.wait_s(queue)
        if is_late(wait, budget_s):
            raise Overloaded(f"the {upstream} service is at capacity: about {wait:.1f}s of queued work ahead, more "
                             f"than this request's {budget_s:.1f}s allow; retry later",
                             retry_after_s=retry_after_s(wait))

