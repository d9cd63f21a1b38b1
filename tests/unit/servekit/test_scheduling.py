"""Length-aware batch formation and admission control by expected queue time (servekit.scheduling, MicroBatcher)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from servekit.batching import MicroBatcher
from servekit.errors import Overloaded
from servekit.metrics import ServiceMetrics
from servekit.scheduling import QueueClock, QueueMirror, retry_after_s, split_by_cost


def test_split_by_cost_groups_similar_lengths_within_bounds() -> None:
    costs = [30, 2, 17, 3, 29, 16, 1, 31]
    batches = split_by_cost(costs, max_batch_size=3)
    assert sorted(i for batch in batches for i in batch) == list(range(len(costs)))
    assert [[costs[i] for i in batch] for batch in batches] == [[1, 2, 3], [16, 17, 29], [30, 31]]


def test_split_by_cost_respects_the_padded_cost_budget_and_keeps_a_lone_long_item() -> None:
    costs = [10, 10, 10, 10, 100]
    batches = split_by_cost(costs, max_batch_size=8, max_batch_cost=30)
    assert [[costs[i] for i in batch] for batch in batches] == [[10, 10, 10], [10], [100]]


def test_queue_clock_learns_cost_and_batch_overhead_and_predicts_the_wait() -> None:
    clock = QueueClock()
    assert clock.expected_s(1000, 10) == 0.0  # nothing learnt yet: admit
    clock.observe(100, 1.0)
    assert clock.expected_s(90, 10) == pytest.approx(1.0)  # one size seen: a plain ratio
    for cost in (10, 50, 200, 400):
        clock.observe(cost, 0.05 + 0.01 * cost)  # 50 ms per batch + 10 ms per unit
    assert clock.per_unit_s == pytest.approx(0.01, rel=0.05)
    assert clock.overhead_s == pytest.approx(0.05, rel=0.3)
    assert clock.expected_s(900, 100, batches=4) == pytest.approx(10.2, rel=0.05)
    assert retry_after_s(0.2) == 1 and retry_after_s(2.1) == 3


class Gated:
    """A batch function that waits for a gate, remembers every batch, and answers each item with its own text."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[list[str]] = []
        self.gate = threading.Event()
        self.delay_s = delay_s

    def __call__(self, items: list[str]) -> Sequence[str]:
        self.gate.wait(10)
        self.batches.append(list(items))
        time.sleep(self.delay_s)
        return [item.upper() for item in items]


def test_length_aware_rounds_sort_across_requests_and_answer_in_input_order() -> None:
    fn = Gated()
    batcher = MicroBatcher("m", fn, max_batch_size=4, max_wait_s=0, cost=len, round_batches=4)
    blocker = batcher.submit(["x"])  # the worker holds this one at the gate while the rest queue up
    time.sleep(0.05)
    requests = [["a" * n for n in (9, 1, 5)], ["b" * n for n in (2, 8, 3)], ["c" * n for n in (7, 4, 6, 10)]]
    results: dict[int, list[str | Exception]] = {}

    def client(index: int) -> None:
        results[index] = batcher.run(requests[index], timeout_s=10)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    fn.gate.set()
    for thread in threads:
        thread.join()
    blocker[0].result(5)
    batcher.close()
    for index, texts in enumerate(requests):
        assert results[index] == [text.upper() for text in texts]
    later = [[len(text) for text in batch] for batch in fn.batches[1:]]
    assert later == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]], "texts of different requests were not sorted by length"


def test_without_a_cost_batches_keep_arrival_order() -> None:
    fn = Gated()
    fn.gate.set()
    batcher = MicroBatcher("m", fn, max_batch_size=8, max_wait_s=0.05)
    assert batcher.run(["ccc", "a", "bb"], timeout_s=5) == ["CCC", "A", "BB"]
    batcher.close()
    assert fn.batches == [["ccc", "a", "bb"]]


def busy_batcher(max_queue_s: float = 0.0) -> tuple[MicroBatcher[str, str], Gated, ServiceMetrics]:
    """A batcher that has learnt that an item takes 50 ms, then is held busy with 10 items."""
    fn = Gated(delay_s=0.05)
    fn.gate.set()
    metrics = ServiceMetrics("t")
    batcher = MicroBatcher("m", fn, max_batch_size=1, max_wait_s=0, max_queue_s=max_queue_s, metrics=metrics)
    batcher.run(["learn"], timeout_s=5)
    fn.gate.clear()
    batcher.submit([f"queued {i}" for i in range(10)])
    return batcher, fn, metrics


def test_work_that_cannot_finish_before_its_deadline_is_refused_at_once_with_retry_after() -> None:
    batcher, fn, metrics = busy_batcher()
    started = time.monotonic()
    with pytest.raises(Overloaded) as refused:
        batcher.run(["late"], timeout_s=0.2)  # about 0.5 s of work is ahead of it
    assert time.monotonic() - started < 0.1, "the refusal waited instead of answering at once"
    assert refused.value.status == 503 and int(refused.value.headers["Retry-After"]) >= 1
    assert metrics.rejected.labels("t", "m")._value.get() == 1
    fn.gate.set()
    assert batcher.run(["patient"], timeout_s=10) == ["PATIENT"]  # a deadline that allows the wait is admitted
    batcher.close()


def test_the_early_check_refuses_on_the_work_ahead_alone() -> None:
    batcher, fn, _ = busy_batcher()
    with pytest.raises(Overloaded):
        batcher.refuse_if_late(0.2)
    batcher.refuse_if_late(30.0)  # enough time: no refusal
    fn.gate.set()
    batcher.close()


def test_max_queue_time_refuses_even_a_patient_request() -> None:
    batcher, fn, _ = busy_batcher(max_queue_s=0.1)
    with pytest.raises(Overloaded):
        batcher.run(["patient"], timeout_s=60)
    fn.gate.set()
    batcher.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_mirror_refuses_what_the_reported_queue_cannot_serve_in_time_and_lets_it_drain() -> None:
    clock = _Clock()
    mirror = QueueMirror(fresh_s=1.0, clock=clock)
    mirror.refuse_if_late("m", 0.1, "text")  # nothing reported: nothing refused
    mirror.observe("m", 3.0)
    with pytest.raises(Overloaded) as refused:
        mirror.refuse_if_late("m", 2.0, "text")  # 3 s ahead, more than half of 2 s
    assert refused.value.status == 503 and refused.value.headers["Retry-After"] == "3"
    mirror.refuse_if_late("m", 10.0, "text")  # patient enough
    mirror.refuse_if_late("other", 2.0, "text")  # another model's queue
    clock.now += 0.5
    assert mirror.wait_s("m") == pytest.approx(2.5)  # the queue drains while no report comes
    clock.now += 0.6
    assert mirror.wait_s("m") == 0.0  # stale: the next call goes through and brings a new report
    mirror.refuse_if_late("m", 2.0, "text")
    mirror.observe("m", 0.0)
    mirror.refuse_if_late("m", 0.01, "text")

