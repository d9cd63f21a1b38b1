"""Request coalescing: requests that meet while a call is out ride the next one together, each answered alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from servekit.client import CallContext
from servekit.coalescing import Coalescer
from servekit.errors import ApiError, DeadlineExceeded, InvalidInput, UpstreamUnavailable

KEY = ("text", "minilm", None)


def split(answer: list[str], sizes: list[int]) -> list[list[str]]:
    parts, start = [], 0
    for size in sizes:
        parts.append(answer[start:start + size])
        start += size
    return parts


class Upstream:
    """Records every call; the first call can be held open so that later requests meet in the lane."""

    def __init__(self, hold_first: bool = False, fail: Callable[[list[str]], ApiError | None] = lambda items: None,
                 answer: Callable[[list[str]], list[str]] | None = None) -> None:
        self.calls: list[tuple[list[str], CallContext, str]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self._hold = hold_first
        self._fail = fail
        self._answer = answer or (lambda items: [f"vector of {item}" for item in items])
        self._lock = threading.Lock()

    def send(self, items: list[str], context: CallContext) -> list[str]:
        with self._lock:
            self.calls.append((list(items), context, threading.current_thread().name))
            first = len(self.calls) == 1
        if first and self._hold:
            self.entered.set()
            self.release.wait(5)
        error = self._fail(items)
        if error is not None:
            raise error
        return self._answer(items)


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.002)


def start(pool: ThreadPoolExecutor, coalescer: Coalescer[str, list[str]], upstream: Upstream, items: list[str],
          context: CallContext | None = None) -> Future[list[str]]:
    return pool.submit(coalescer.call, KEY, items, upstream.send, context or CallContext(request_id=items[0]))


def meet(pool: ThreadPoolExecutor, coalescer: Coalescer[str, list[str]], upstream: Upstream,
         *requests: list[str], contexts: list[CallContext] | None = None,
         ) -> tuple[Future[list[str]], list[Future[list[str]]]]:
    """A first request whose call the upstream holds open, then ``requests``, each waiting in the lane in turn."""
    first = held(pool, coalescer, upstream)
    riders = []
    expected = 0
    for index, items in enumerate(requests):
        expected += len(items)
        riders.append(start(pool, coalescer, upstream, items, contexts[index] if contexts else None))
        wait_until(lambda: coalescer.waiting_items(KEY) == expected)  # noqa: B023 - called before the next turn
    return first, riders


def held(pool: ThreadPoolExecutor, coalescer: Coalescer[str, list[str]], upstream: Upstream) -> Future[list[str]]:
    """A request for ``["a"]`` whose call the upstream holds open until ``land``."""
    first = start(pool, coalescer, upstream, ["a"])
    assert upstream.entered.wait(5)
    return first


def land(upstream: Upstream, first: Future[list[str]]) -> None:
    """Let the held call answer."""
    upstream.release.set()
    assert first.result(5) == ["vector of a"]


def test_a_lone_request_is_sent_at_once_on_its_own_thread_with_its_own_context() -> None:
    coalescer: Coalescer[str, list[str]] = Coalescer(max_items=8, max_flights=1, split=split)
    upstream = Upstream()
    context = CallContext(request_id="r1", deadline=time.monotonic() + 5)
    assert coalescer.call(KEY, ["a", "b"], upstream.send, context) == ["vector of a", "vector of b"]
    assert upstream.calls == [(["a", "b"], context, threading.current_thread().name)]
    assert len(coalescer) == 0  # an idle key keeps nothing


def test_requests_that_meet_while_a_call_is_out_leave_together_and_each_gets_its_own_answer() -> None:
    coalescer: Coalescer[str, list[str]] = Coalescer(max_items=8, max_flights=1, split=split)
    upstream = Upstream(hold_first=True)
    with ThreadPoolExecutor(8) as pool:
        first, riders = meet(pool, coalescer, upstream, ["b"], ["c", "d"], ["e"])
        land(upstream, first)
        assert [r.result(5) for r in riders] == [["vector of b"], ["vector of c", "vector of d"], ["vector of e"]]
    assert len(upstream.calls) == 2
    shared_items, shared_context, _ = upstream.calls[1]
    assert shared_items == ["b", "c", "d", "e"]  # in arrival order
    assert shared_context.request_id == "b"  # the request that made the call lends its id
    assert len(coalescer) == 0


def test_a_full_lane_leaves_at_once_without_waiting_for_a_landing() -> None:
    coalescer: Coalescer[str, list[str]] = Coalescer(max_items=3, max_flights=1, split=split)
    upstream = Upstream(hold_first=True)
    with ThreadPoolExecutor(8) as pool:
        first, full = meet(pool, coalescer, upstream, ["b"], ["c"], ["d"])
        late = start(pool, coalescer, upstream, ["e"])  # would make 4 > 3: the three leave now, "e" waits
        assert [r.result(5) for r in full] == [["vector of b"], ["vector of c"], ["vector of d"]]
        assert not first.done() and not late.done()
        upstream.release.set()
        assert late.result(5) == ["vector of e"] and first.result(5) == ["vector of a"]
    assert [sorted(items) for items, _, _ in upstream.calls] == [["a"], ["b", "c", "d"], ["e"]]


def test_an_input_error_in_a_shared_call_sends_every_rider_again_alone() -> None:
    def refuse_long(items: list[str]) -> ApiError | None:
        for index, item in enumerate(items):
            if len(item) > 3:
                return InvalidInput(f"input[{index}] is too long", param=f"input[{index}]", code="input_too_long")
        return None

    coalescer: Coalescer[str, list[str]] = Coalescer(max_items=8, max_flights=1, split=split)
    upstream = Upstream(hold_first=True, fail=refuse_long)
    with ThreadPoolExecutor(8) as pool:
        first, (good, bad) = meet(pool, coalescer, upstream, ["b", "c"], ["d", "long one"])
        land(upstream, first)
        assert good.result(5) == ["vector of b", "vector of c"]
        with pytest.raises(InvalidInput) as refused:
            bad.result(5)
    assert refused.value.param == "input[1]"  # named within its own request
    assert len(upstream.calls) == 4  # a; the shared call; then b+c and d+long alone


@pytest.mark.parametrize(
    ("fail", "cut", "error"),
    [(lambda items: UpstreamUnavailable("down") if len(items) > 1 else None, split, UpstreamUnavailable),
     (lambda items: None, lambda answer, sizes: [answer], ValueError)],  # an answer that cannot be cut
    ids=["server-error", "bad-split"],
)
def test_a_shared_call_that_fails_otherwise_fails_every_rider_once_and_never_hangs(
        fail: Callable[[list[str]], ApiError | None], cut: Callable[[list[str], list[int]], list[list[str]]],
        error: type[Exception]) -> None:
    coalescer: Coalescer[str, list[str]] = Coalescer(max_items=8, max_flights=1, split=cut)
    upstream = Upstream(hold_first=True, fail=fail)
    with ThreadPoolExecutor(8) as pool:
        first, riders = meet(pool, coalescer, upstream, ["b"], ["c"])
        land(upstream, first)
        for rider in riders:
            with pytest.raises(error):
                rider.result(5)
    assert len(upstream.calls) == 2  # no resend
    assert len(coalescer) == 0


def test_a_rider_whose_deadline_passes_in_the_lane_leaves_it_and_the_others_still_go() -> None:
    coalescer: Coalescer[str, list[str]] = Coalescer(max_items=8, max_flights=1, split=split)
    upstream = Upstream(hold_first=True)
    with ThreadPoolExecutor(8) as pool:
        first = held(pool, coalescer, upstream)
        hasty = start(pool, coalescer, upstream, ["b"], CallContext("b", deadline=time.monotonic() + 0.05))
        patient = start(pool, coalescer, upstream, ["c"], CallContext("c", deadline=time.monotonic() + 5))
        with pytest.raises(DeadlineExceeded):
            hasty.result(5)
        assert coalescer.waiting_items(KEY) == 1
        upstream.release.set()
        assert first.result(5) == ["vector of a"] and patient.result(5) == ["vector of c"]
    assert [items for items, _, _ in upstream.calls] == [["a"], ["c"]]


def test_the_shared_call_has_the_earliest_deadline_of_its_riders() -> None:
    coalescer: Coalescer[str, list[str]] = Coalescer(max_items=8, max_flights=1, split=split)
    upstream = Upstream(hold_first=True)
    now = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        contexts = [CallContext("b", deadline=now + 9), CallContext("c", deadline=now + 4), CallContext("d")]
        first, riders = meet(pool, coalescer, upstream, ["b"], ["c"], ["d"], contexts=contexts)
        land(upstream, first)
        assert [rider.result(5) for rider in riders] == [["vector of b"], ["vector of c"], ["vector of d"]]
    assert upstream.calls[1][1].deadline == now + 4


def test_different_keys_never_share_a_call_and_more_flights_let_more_go_at_once() -> None:
    coalescer: Coalescer[str, list[str]] = Coalescer(max_items=8, max_flights=2, split=split)
    upstream = Upstream(hold_first=True)
    with ThreadPoolExecutor(8) as pool:
        first = held(pool, coalescer, upstream)
        second = start(pool, coalescer, upstream, ["b"])  # a second flight is allowed: sent at once
        other = pool.submit(coalescer.call, ("text", "other-model", None), ["x"], upstream.send, CallContext())
        assert second.result(5) == ["vector of b"] and other.result(5) == ["vector of x"]
        upstream.release.set()
        assert first.result(5) == ["vector of a"]
    assert [items for items, _, _ in upstream.calls] == [["a"], ["b"], ["x"]]
