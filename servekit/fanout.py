"""Parallel calls to several upstreams from one request: the request's id and deadline travel with each call,
and the whole fan-out is bounded by that one deadline, so timeouts never stack up."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TypeVar

from servekit.client import CallContext

T = TypeVar("T")


def fan_out(executor: Executor, calls: Sequence[Callable[[CallContext], T]]) -> list[T | Exception]:
    """Run ``calls`` concurrently, each given the captured :class:`CallContext`; results in call order,
    a failed call's exception in its slot."""
    context = CallContext.capture()
    # Each call runs in a copy of this thread's context vars, so the trace of the request follows it.
    futures = [executor.submit(contextvars.copy_context().run, call, context) for call in calls]
    results: list[T | Exception] = []
    for future in futures:
        try:
            results.append(future.result())
        except Exception as exc:  # noqa: BLE001 - handed back per call
            results.append(exc)
    return results
