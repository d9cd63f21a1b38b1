"""Dynamic micro-batching: items from many concurrent requests share one forward pass.

A batch closes when it holds ``max_batch_size`` items or its first item has waited ``max_wait_s``.
The queue is bounded and refuses a request's items all together, at once, when they do not fit
(the caller answers 503 with ``Retry-After``), or when the time they would wait behind the queue exceeds their
deadline or ``max_queue_s`` (admission control, :mod:`servekit.scheduling`). Given a ``cost`` per item (a text's
token count), the worker takes up to ``round_batches`` batches' worth of the oldest items at once and runs them as
batches of similar cost (length-aware batch formation); results still go to each item's own future.
A batch function returns one output per input; an output that is an ``Exception`` fails only its own item.
When a whole batch raises, its items are retried one by one so that the bad item fails alone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from servekit.errors import ApiError, DeadlineExceeded, InferenceError, Overloaded
from servekit.metrics import ServiceMetrics
from servekit.scheduling import QueueClock, is_late, retry_after_s, split_by_cost

log = logging.getLogger(__name__)

In = TypeVar("In")  # input item
Out = TypeVar("Out")  # output item

BatchFn = Callable[[list[In]], Sequence["Out | Exception"]]


@dataclass
class _Pending(Generic[In, Out]):
    item: In
    cost: int = 1
    future: Future[Out] = field(default_factory=Future)
    enqueued_at: float = field(default_factory=time.monotonic)


class MicroBatcher(Generic[In, Out]):
    """Collects items into batches for ``fn`` on one worker thread."""

    def __init__(
        self,
        name: str,
        fn: BatchFn[In, Out],
        *,
        max_batch_size: int = 32,
        max_wait_s: float = 0.005,
        queue_size: int = 1024,
        metrics: ServiceMetrics | None = None,
        cost: Callable[[In], int] | None = None,
        max_batch_cost: int = 0,
        round_batches: int = 8,
        max_queue_s: float = 0.0,
    ) -> None:
        if max_batch_size < 1 or queue_size < 1 or round_batches < 1:
            raise ValueError("max_batch_size and queue_size must be positive")
        self.name = name
        self._fn = fn
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.queue_size = queue_size
        self._metrics = metrics
        self._cost = cost
        self.max_batch_cost = max_batch_cost
        self._round_items = max_batch_size * round_batches if cost is not None else max_batch_size
        self.max_queue_s = max_queue_s
        self._clock = QueueClock()
        self._queued_cost = 0
        self._running_cost = 0
        self._running_items = 0
        self._queue: deque[_Pending[In, Out]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._worker.start()

    # -- producer side -------------------------------------------------------------------------------
    def submit(self, items: Sequence[In], budget_s: float | None = None) -> list[Future[Out]]:
        """Queue ``items`` together, or refuse them all with :class:`Overloaded` when the queue is full or they
        could not be done within ``budget_s`` (the request's remaining deadline) or ``max_queue_s``."""
        cost = self._cost
        pending = [_Pending[In, Out](item, cost(item) if cost is not None else 1) for item in items]
        with self._cond:
            if self._closed:
                raise Overloaded(f"model {self.name} is shutting down")
            if len(self._queue) + len(pending) > self.queue_size:
                self._count_rejected(len(pending))
                raise Overloaded(f"model {self.name} queue is full ({self.queue_size} items), retry later",
                                 queue_wait_s=self._wait_locked())
            self._admit(sum(p.cost for p in pending), len(pending), budget_s)
            self._queued_cost += sum(p.cost for p in pending)
            self._queue.extend(pending)
            self._report_depth()
            self._cond.notify()
        return [p.future for p in pending]

    def _admit(self, own_cost: int, count: int, budget_s: float | None) -> None:
        """Refuse at once what would wait past its deadline (or ``max_queue_s``) behind the work ahead."""
        ahead = self._queued_cost + self._running_cost
        limits = [limit for limit in (budget_s, self.max_queue_s or None) if limit is not None]
        if not ahead or not limits:
            return
        batches = -(-(len(self._queue) + self._running_items + count) // self.max_batch_size)
        expected = self._clock.expected_s(ahead, own_cost, batches)
        if is_late(expected, min(limits)):
            self._count_rejected(count)
            wait = self._clock.expected_s(ahead, 0, batches)
            raise Overloaded(f"model {self.name} is at capacity: about {wait:.1f}s of queued work ahead, more than "
                             f"this request's {min(limits):.1f}s allow; retry later",
                             retry_after_s=retry_after_s(wait), queue_wait_s=expected)

    def refuse_if_late(self, budget_s: float, count: int = 1) -> None:
        """Refuse (:class:`Overloaded`) before any per-request work is spent on the request when the work already
        ahead would outlast ``budget_s`` or ``max_queue_s``; :meth:`submit` checks again with the request's cost."""
        with self._cond:
            self._admit(0, count, budget_s)

    def _count_rejected(self, count: int) -> None:
        if self._metrics:
            self._metrics.count_rejected(self.name, count)

    def expected_wait_s(self) -> float:
        """Seconds new work would wait behind what is queued and running (0 until a batch has run)."""
        with self._cond:
            return self._wait_locked()

    def _wait_locked(self) -> float:
        batches = -(-(len(self._queue) + self._running_items) // self.max_batch_size)
        return self._clock.expected_s(self._queued_cost + self._running_cost, 0, batches)

    def run(self, items: Sequence[In], timeout_s: float) -> list[Out | Exception]:
        """Submit and wait; per-item failures come back as exceptions in their slot."""
        futures = self.submit(items, budget_s=timeout_s)
        deadline = time.monotonic() + timeout_s
        results: list[Out | Exception] = []
        try:
            for future in futures:
                remaining = max(0.0, deadline - time.monotonic())
                try:
                    results.append(future.result(timeout=remaining))
                except FutureTimeout:
                    raise DeadlineExceeded(f"model {self.name} did not answer within {timeout_s:.1f}s") from None
                except Exception as exc:  # noqa: BLE001 - handed back per item
                    results.append(exc)
        finally:
            for future in futures:
                future.cancel()  # no-op for finished ones; frees queue slots of abandoned ones
        return results

    def close(self, timeout_s: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join(timeout_s)

    @property
    def depth(self) -> int:
        return len(self._queue)

    # -- worker side ---------------------------------------------------------------------------------
    def _report_depth(self) -> None:
        if self._metrics:
            self._metrics.set_queue_depth(self.name, len(self._queue))

    def _take_round(self) -> list[list[_Pending[In, Out]]]:
        """The oldest items (one batch, or ``round_batches`` with a cost), as batches of similar cost."""
        taken = self._take_batch()
        if self._cost is None or len(taken) <= 1:
            return [taken] if taken else []
        groups = split_by_cost([p.cost for p in taken], self.max_batch_size, self.max_batch_cost)
        return [[taken[index] for index in group] for group in groups]

    def _take_batch(self) -> list[_Pending[In, Out]]:
        with self._cond:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return []
            close_at = self._queue[0].enqueued_at + self.max_wait_s
            while len(self._queue) < self.max_batch_size and not self._closed:
                remaining = close_at - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            batch = [self._queue.popleft() for _ in range(min(self._round_items, len(self._queue)))]
            taken_cost = sum(p.cost for p in batch)
            self._queued_cost -= taken_cost
            self._report_depth()
        # Items whose caller gave up are dropped here, before they cost a forward pass.
        live = [p for p in batch if p.future.set_running_or_notify_cancel()]
        with self._cond:
            self._running_cost += sum(p.cost for p in live)
            self._running_items += len(live)
        return live

    def _loop(self) -> None:
        while True:
            batches = self._take_round()
            if not batches:
                if self._closed:
                    return
                continue
            for batch in batches:
                started = time.perf_counter()
                try:
                    self._run_batch(batch)
                finally:
                    cost = sum(p.cost for p in batch)
                    self._clock.observe(cost, time.perf_counter() - started)
                    with self._cond:
                        self._running_cost -= cost
                        self._running_items -= len(batch)

    def _run_batch(self, batch: list[_Pending[In, Out]]) -> None:
        started = time.perf_counter()
        try:
            outputs = list(self._fn([p.item for p in batch]))
        except Exception as exc:  # noqa: BLE001
            if len(batch) == 1:
                self._fail(batch[0], exc)
                return
            log.warning("batch of %d failed in %s; retrying items one by one", len(batch), self.name)
            for pending in batch:
                self._run_single(pending)
            return
        if self._metrics:
            self._metrics.observe_batch(self.name, len(batch), time.perf_counter() - started)
        if len(outputs) != len(batch):
            error = InferenceError(f"model {self.name} returned {len(outputs)} outputs for {len(batch)} inputs")
            log.error("batch output count mismatch in %s", self.name)
            for pending in batch:
                pending.future.set_exception(error)
            return
        for pending, output in zip(batch, outputs, strict=True):
            if isinstance(output, Exception):
                self._fail(pending, output)
            else:
                pending.future.set_result(output)

    def _run_single(self, pending: _Pending[In, Out]) -> None:
        try:
            outputs = list(self._fn([pending.item]))
            if len(outputs) != 1:
                raise InferenceError(f"model {self.name} returned {len(outputs)} outputs for 1 input")
            output = outputs[0]
        except Exception as exc:  # noqa: BLE001
            self._fail(pending, exc)
            return
        if isinstance(output, Exception):
            self._fail(pending, output)
        else:
            pending.future.set_result(output)

    def _fail(self, pending: _Pending[In, Out], exc: Exception) -> None:
        if not isinstance(exc, ApiError):
            log.error("inference failed in %s: %s", self.name, type(exc).__name__, exc_info=exc)
            exc = InferenceError(f"model {self.name} failed on this input")
        pending.future.set_exception(exc)
