"""Dynamic micro-batching: items from many concurrent requests share one forward pass.

A batch closes when it holds ``max_batch_size`` items or its first item has waited ``max_wait_s``.
The queue is bounded and refuses a request's items all together, at once, when they do not fit
(the caller answers 503 with ``Retry-After``). A batch function returns one output per input; an output
that is an ``Exception`` fails only its own item. When a whole batch raises, its items are retried one by
one so that the bad item fails alone.
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

log = logging.getLogger(__name__)

In = TypeVar("In")  # input item
Out = TypeVar("Out")  # output item

BatchFn = Callable[[list[In]], Sequence["Out | Exception"]]


@dataclass
class _Pending(Generic[In, Out]):
    item: In
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
    ) -> None:
        if max_batch_size < 1 or queue_size < 1:
            raise ValueError("max_batch_size and queue_size must be positive")
        self.name = name
        self._fn = fn
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.queue_size = queue_size
        self._metrics = metrics
        self._queue: deque[_Pending[In, Out]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._worker = threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True)
        self._worker.start()

    # -- producer side -------------------------------------------------------------------------------
    def submit(self, items: Sequence[In]) -> list[Future[Out]]:
        """Queue ``items`` together, or refuse them all with :class:`Overloaded`."""
        pending = [_Pending[In, Out](item) for item in items]
        with self._cond:
            if self._closed:
                raise Overloaded(f"model {self.name} is shutting down")
            if len(self._queue) + len(pending) > self.queue_size:
                if self._metrics:
                    self._metrics.count_rejected(self.name, len(pending))
                raise Overloaded(f"model {self.name} queue is full ({self.queue_size} items), retry later")
            self._queue.extend(pending)
            self._report_depth()
            self._cond.notify()
        return [p.future for p in pending]

    def run(self, items: Sequence[In], timeout_s: float) -> list[Out | Exception]:
        """Submit and wait; per-item failures come back as exceptions in their slot."""
        futures = self.submit(items)
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
            batch = [self._queue.popleft() for _ in range(min(self.max_batch_size, len(self._queue)))]
            self._report_depth()
        # Items whose caller gave up are dropped here, before they cost a forward pass.
        return [p for p in batch if p.future.set_running_or_notify_cancel()]

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch:
                if self._closed:
                    return
                continue
            self._run_batch(batch)

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
