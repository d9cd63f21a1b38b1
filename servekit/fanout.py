"""Parallel calls to several upstreams from one request: the request's id and deadline travel with each call,
and the whole fan-out is bounded by that one deadline, so timeouts never stack up."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TypeVar

from servekit.client import CallContext

T = TypeVar("T")


def fan_out(executor: Executor, calls: Sequence[Callable[[CallContext], T]]) -> list[T | Exception]:
    """Run ``calls`` concurrently, each given the captured :class:`CallContext`; results in call order,
    a failed call's exception in its slot."""
    context = CallContext.capture()
    futures = [executor.submit(call, context) for call in calls]
    results: list[T | Exception] = []
    for future in futures:
        try:
            results.append(future.result())
        except Exception as exc:  # noqa: BLE001 - handed back per call
            results.append(exc)
    return results
