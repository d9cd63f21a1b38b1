"""Calls that differ only in their inputs ride one upstream call when they meet (request coalescing).

Under many small concurrent requests (one text each, say) most of a hop's CPU is per request: the HTTP exchange,
parsing, the encoder's own intake. A :class:`Coalescer` lets at most ``max_flights`` calls per key be in flight;
requests that arrive while those are out wait in the key's lane and leave together, as one call, when a flight
lands (or at once when the lane holds a full call's ``max_items``). A lone request never waits: with a free flight
and an empty lane it is sent at once, on its own thread.

No thread is added: the request thread that opens a flight makes the call and hands each waiting request its
share of the answer. Each request keeps its own deadline (the flight's is the earliest of its riders'), and an
error about the inputs (a 4xx) sends every rider again on its own, so that one bad input never fails another
request. The lane is never a hidden queue: it holds at most one call's worth of inputs, so overload still reaches
the upstream's admission control.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from servekit.client import CallContext
from servekit.errors import ApiError, DeadlineExceeded

Item = TypeVar("Item")
Answer = TypeVar("Answer")

# Sends one call for these inputs under this context; answers for all of them.
Send = Callable[[list[Item], CallContext], Answer]
# Cuts a call's answer into the answers of requests of these sizes, in order.
Split = Callable[[Answer, list[int]], list[Answer]]


class _Alone:
    """A rider's outcome when the shared call failed on an input: it sends its own inputs itself."""


ALONE = _Alone()


@dataclass(eq=False)
class _Rider(Generic[Item, Answer]):
    items: list[Item]
    context: CallContext
    landed: threading.Event = field(default_factory=threading.Event)
    group: list[_Rider[Item, Answer]] | None = None  # set when this rider is to make the call for the group
    outcome: Answer | BaseException | _Alone | None = None


@dataclass
class _Lane(Generic[Item, Answer]):
    flights: int = 0
    waiting: list[_Rider[Item, Answer]] = field(default_factory=list)
    waiting_items: int = 0


def is_input_error(error: BaseException) -> bool:
    """An upstream answer about the inputs (a 4xx other than 429): it may concern one rider's inputs only."""
    return isinstance(error, ApiError) and 400 <= error.status < 500 and error.status != 429


class Coalescer(Generic[Item, Answer]):
    """Per key (what the calls share: upstream, model, options), at most ``max_flights`` calls in flight; the
    requests that meet in between leave together. Thread-safe; one instance serves every request thread."""

    def __init__(self, *, max_items: int, max_flights: int, split: Split[Answer],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_items = max_items
        self.max_flights = max_flights
        self._split = split
        self._clock = clock
        self._lock = threading.Lock()
        self._lanes: dict[Hashable, _Lane[Item, Answer]] = {}

    def __len__(self) -> int:
        """Keys with a call in flight (an idle key holds nothing)."""
        return len(self._lanes)

    def waiting_items(self, key: Hashable) -> int:
        """Inputs waiting in ``key``'s lane for a call to land."""
        with self._lock:
            lane = self._lanes.get(key)
            return lane.waiting_items if lane else 0

    def call(self, key: Hashable, items: Sequence[Item], send: Send[Item, Answer], context: CallContext) -> Answer:
        """The answer for ``items``, from a call of their own or one shared with requests of the same key."""
        rider: _Rider[Item, Answer] = _Rider(list(items), context)
        with self._lock:
            lane = self._lanes.setdefault(key, _Lane())
            if lane.waiting and lane.waiting_items + len(rider.items) > self.max_items:
                self._dispatch(lane)  # the lane holds a full call: it leaves now
            if lane.flights < self.max_flights and not lane.waiting:
                lane.flights += 1
                rider.group = [rider]
            else:
                lane.waiting.append(rider)
                lane.waiting_items += len(rider.items)
        if rider.group is None:
            self._wait(lane, rider)
        if rider.group is not None:
            self._fly(key, lane, rider.group, send)
        return self._answer(rider, send)

    def _dispatch(self, lane: _Lane[Item, Answer]) -> None:
        """The waiting riders leave as one call, made by the first of them (under the lock)."""
        group, lane.waiting, lane.waiting_items = lane.waiting, [], 0
        lane.flights += 1
        group[0].group = group
        group[0].landed.set()

    def _wait(self, lane: _Lane[Item, Answer], rider: _Rider[Item, Answer]) -> None:
        """Until the rider's call lands or it is to make one; a rider still waiting at its deadline leaves."""
        deadline = rider.context.deadline
        timeout = None if deadline is None else max(0.0, deadline - self._clock())
        if rider.landed.wait(timeout):
            return
        with self._lock:
            if rider in lane.waiting:
                lane.waiting.remove(rider)
                lane.waiting_items -= len(rider.items)
                raise DeadlineExceeded("the request's deadline passed while it waited to be sent upstream")
        if rider.group is None:  # in a call made by another rider, or just landed: the call keeps the deadline
            rider.landed.wait()

    def _fly(self, key: Hashable, lane: _Lane[Item, Answer], group: list[_Rider[Item, Answer]],
             send: Send[Item, Answer]) -> None:
        """Make the group's call and hand every rider its outcome; then let the next waiting group leave."""
        outcomes: list[Answer | BaseException | _Alone]
        try:
            items = [item for rider in group for item in rider.items]
            outcomes = self._outcomes(group, send(items, self._flight_context(group)))
        except BaseException as error:  # noqa: BLE001 - handed to every rider, raised in its own thread
            # one instance raised in each rider's thread: ApiError subclasses take different arguments, so a
            # copy could not be made generally; the error handlers only read it
            outcomes = [ALONE if len(group) > 1 and is_input_error(error) else error] * len(group)
        finally:
            with self._lock:
                lane.flights -= 1
                if lane.waiting and lane.flights < self.max_flights:
                    self._dispatch(lane)
                elif not lane.flights and not lane.waiting and self._lanes.get(key) is lane:
                    del self._lanes[key]  # keys come from requests: an idle lane is not kept
        for rider, outcome in zip(group, outcomes, strict=True):
            rider.outcome = outcome
            rider.group = None
            rider.landed.set()

    def _outcomes(self, group: list[_Rider[Item, Answer]], answer: Answer) -> list[Answer | BaseException | _Alone]:
        if len(group) == 1:
            return [answer]
        answers: list[Answer | BaseException | _Alone] = list(self._split(answer, [len(r.items) for r in group]))
        if len(answers) != len(group):
            raise ValueError(f"split gave {len(answers)} answers for {len(group)} requests")
        return answers

    def _flight_context(self, group: list[_Rider[Item, Answer]]) -> CallContext:
        """The leader's request id; the earliest deadline among riders still within theirs."""
        now = self._clock()
        deadlines = [r.context.deadline for r in group if r.context.deadline is not None and r.context.deadline > now]
        expired = any(r.context.deadline is not None and r.context.deadline <= now for r in group)
        deadline = min(deadlines) if deadlines else (now if expired else None)
        return CallContext(request_id=group[0].context.request_id, deadline=deadline)

    def _answer(self, rider: _Rider[Item, Answer], send: Send[Item, Answer]) -> Answer:
        outcome = rider.outcome
        if isinstance(outcome, _Alone):
            return send(rider.items, rider.context)
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is None:
            raise DeadlineExceeded("the upstream call did not land")
        return outcome
