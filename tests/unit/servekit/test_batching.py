from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from servekit.batching import MicroBatcher
from servekit.errors import DeadlineExceeded, InferenceError, InvalidInput, Overloaded
from servekit.metrics import ServiceMetrics


class Recorder:
    """A batch function that doubles numbers and remembers the batch sizes it saw."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.sizes: list[int] = []
        self.delay_s = delay_s
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, items: list[int]) -> Sequence[int | Exception]:
        self.gate.wait(10)
        self.sizes.append(len(items))
        time.sleep(self.delay_s)
        return [2 * i for i in items]


def test_concurrent_requests_share_batches_and_get_their_own_results() -> None:
    fn = Recorder(delay_s=0.02)
    batcher = MicroBatcher("m", fn, max_batch_size=16, max_wait_s=0.05, queue_size=1000)
    results: dict[int, list[int | Exception]] = {}

    def client(n: int) -> None:
        results[n] = batcher.run([n * 10 + k for k in range(3)], timeout_s=10)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()
    assert all(results[n] == [2 * (n * 10 + k) for k in range(3)] for n in range(20))
    assert sum(fn.sizes) == 60
    assert max(fn.sizes) > 3, "items of different requests never shared a forward pass"
    assert max(fn.sizes) <= 16


def test_batch_closes_after_max_wait_with_a_partial_batch() -> None:
    fn = Recorder()
    batcher = MicroBatcher("m", fn, max_batch_size=64, max_wait_s=0.01)
    assert batcher.run([1, 2], timeout_s=5) == [2, 4]
    batcher.close()
    assert fn.sizes == [2]


def test_full_queue_refuses_the_whole_request_at_once_with_retry_after() -> None:
    fn = Recorder()
    fn.gate.clear()  # the worker blocks inside the first batch
    metrics = ServiceMetrics("t")
    batcher = MicroBatcher("m", fn, max_batch_size=1, max_wait_s=0, queue_size=4, metrics=metrics)
    first = batcher.submit([1])
    time.sleep(0.1)  # the worker has taken item 1 and waits at the gate
    batcher.submit([2, 3, 4])
    with pytest.raises(Overloaded) as refused:
        batcher.submit([5, 6])  # 3 queued + 2 > 4: nothing of this request is queued
    assert refused.value.status == 503
    assert refused.value.headers["Retry-After"] == "1"
    assert batcher.depth == 3
    fn.gate.set()
    assert first[0].result(5) == 2
    batcher.close()
    assert metrics.rejected.labels("t", "m")._value.get() == 2


def test_timeout_raises_and_abandoned_items_are_never_computed() -> None:
    fn = Recorder()
    fn.gate.clear()
    batcher = MicroBatcher("m", fn, max_batch_size=1, max_wait_s=0, queue_size=10)
    blocker = batcher.submit([0])
    time.sleep(0.05)
    with pytest.raises(DeadlineExceeded):
        batcher.run([7], timeout_s=0.05)
    fn.gate.set()
    blocker[0].result(5)
    assert batcher.run([8], timeout_s=5) == [16]
    batcher.close()
    assert fn.sizes == [1, 1], "the timed-out item 7 was still computed"


def test_a_failing_item_fails_alone_when_the_batch_raises() -> None:
    def fragile(items: list[int]) -> list[int]:
        if 13 in items:
            raise ValueError("cannot handle 13")
        return [i + 1 for i in items]

    batcher = MicroBatcher("m", fragile, max_batch_size=8, max_wait_s=0.05)
    futures = batcher.submit([1, 13, 3])
    assert futures[0].result(5) == 2
    assert futures[2].result(5) == 4
    with pytest.raises(InferenceError):
        futures[1].result(5)
    batcher.close()


def test_per_item_exceptions_in_the_output_fail_only_their_item() -> None:
    def picky(items: list[int]) -> list[int | Exception]:
        return [InvalidInput("odd") if i % 2 else i for i in items]

    batcher = MicroBatcher("m", picky, max_batch_size=8, max_wait_s=0.01)
    out = batcher.run([2, 3, 4], timeout_s=5)
    batcher.close()
    assert out[0] == 2 and out[2] == 4
    assert isinstance(out[1], InvalidInput)


def test_a_batch_function_returning_the_wrong_count_fails_its_items() -> None:
    batcher = MicroBatcher("m", lambda items: items[:-1], max_batch_size=4, max_wait_s=0.01)
    out = batcher.run([1, 2], timeout_s=5)
    batcher.close()
    assert all(isinstance(o, InferenceError) for o in out)


def test_bounds_are_validated() -> None:
    with pytest.raises(ValueError):
        MicroBatcher("m", lambda items: items, max_batch_size=0)


def test_metrics_record_batch_sizes_and_queue_depth() -> None:
    metrics = ServiceMetrics("t")
    batcher = MicroBatcher("m", lambda items: items, max_batch_size=4, max_wait_s=0.01, metrics=metrics)
    batcher.run([1, 2, 3], timeout_s=5)
    batcher.close()
    assert metrics.batch_size.labels("t", "m")._sum.get() == 3
    assert metrics.queue_depth.labels("t", "m")._value.get() == 0
    # The whole batch is its own stage: the backend's "forward" timing is not counted a second time.
    stages = {sample.labels["stage"] for metric in metrics.model_seconds.collect() for sample in metric.samples}
    assert stages == {"batch"}
