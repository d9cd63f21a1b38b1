"""Stop sequences cut streamed and whole answers the same way; the generation gate refuses, never queues."""

from __future__ import annotations

import pytest

from servekit.errors import Overloaded
from services.vision.generation import GenerationGate, StopFilter, trim_at_stop


@pytest.mark.parametrize(("pieces", "stop", "expected"), [
    (["Hello wor", "ld. Bye"], ("world",), "Hello "),
    (["a", "b", "E", "N", "D", "c"], ("END",), "ab"),
    (["no stop ", "here"], ("XYZ",), "no stop here"),
    (["first STOP", " second"], ("second", "STOP"), "first "),
    (["plain"], (), "plain"),
    (["ab", "c"], ("", "bc"), "a"),
])
def test_streamed_pieces_end_where_the_whole_text_is_cut(pieces: list[str], stop: tuple[str, ...],
                                                         expected: str) -> None:
    stops = StopFilter(stop)
    streamed = "".join(stops.feed(piece) for piece in pieces) + stops.flush()
    assert streamed == expected == trim_at_stop("".join(pieces), stop)[0]
    assert stops.stopped == trim_at_stop("".join(pieces), stop)[1]


def test_the_gate_refuses_past_its_limit_and_frees_slots() -> None:
    gate = GenerationGate(2)
    gate.acquire()
    gate.acquire()
    with pytest.raises(Overloaded) as refused:
        gate.acquire()
    assert refused.value.headers == {"Retry-After": "1"} and refused.value.code == "too_many_generations"
    gate.release()
    gate.acquire()
    assert gate.active == 2
