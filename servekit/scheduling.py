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
from collections.abc import Sequence


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
    """Seconds per unit of cost, learnt from finished batches (exponential moving average), and the expected wait
    of new work behind the cost queued or running. Thread-safe."""

    def __init__(self, smoothing: float = 0.2) -> None:
        self._smoothing = smoothing
        self._seconds_per_unit = 0.0
        self._lock = threading.Lock()

    def observe(self, cost: int, seconds: float) -> None:
        if cost <= 0 or seconds <= 0:
            return
        sample = seconds / cost
        with self._lock:
            if self._seconds_per_unit == 0.0:
                self._seconds_per_unit = sample
            else:
                self._seconds_per_unit += self._smoothing * (sample - self._seconds_per_unit)

    @property
    def seconds_per_unit(self) -> float:
        return self._seconds_per_unit

    def expected_s(self, cost_ahead: int, own_cost: int) -> float:
        """Seconds until work of ``own_cost`` would be done behind ``cost_ahead``; 0 until a batch has been seen."""
        return (cost_ahead + own_cost) * self._seconds_per_unit


def retry_after_s(wait_s: float) -> int:
    """Whole seconds a refused client should wait: the expected queue time, at least 1."""
    return max(1, math.ceil(wait_s))
