"""Server-sent events as the gateway sends them (chat chunks, transcript deltas), parsed as they arrive.

The parser follows the WHATWG event-stream rules for what the gateway uses: ``data:`` lines (one optional space
after the colon; several in one event are joined by newlines), a blank line ends an event, ``:`` lines are
comments, other fields (``event``, ``id``, ``retry``) are read past. ``[DONE]`` ends an OpenAI stream; an event
``{"error": {...}}`` (a failure after the stream started) raises :class:`PolyserveError` with the API's code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import requests

from polyserve_client.errors import PolyserveError

DONE = "[DONE]"


def event_data(lines: Iterable[str]) -> Iterator[str]:
    """The data of each complete event in ``lines`` (without line endings); an unfinished last event is dropped."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
            data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))


def response_lines(response: requests.Response) -> Iterator[str]:
    """The lines of a streamed response as each arrives (``chunk_size=None`` reads what the socket has)."""
    raw_lines: Iterable[bytes] = response.iter_lines(chunk_size=None)  # type: ignore[call-overload]
    for raw in raw_lines:
        yield raw.decode("utf-8")


def stream_error(error: Any, status: int) -> PolyserveError:
    if not isinstance(error, dict):
        return PolyserveError(status, "stream_error", str(error))
    return PolyserveError(status, str(error.get("code") or "stream_error"), str(error.get("message") or ""),
                          type_=str(error.get("type") or ""), param=error.get("param"))


def json_events(lines: Iterable[str], status: int = 200) -> Iterator[dict[str, Any]]:
    """Each event's JSON object, until ``[DONE]`` or the end of the stream; an error event raises."""
    for data in event_data(lines):
        if data == DONE:
            return
        try:
            payload = json.loads(data)
        except ValueError as error:
            raise PolyserveError(status, "invalid_event", f"event is not JSON: {data[:200]!r}") from error
        if not isinstance(payload, dict):
            raise PolyserveError(status, "invalid_event", f"event is not a JSON object: {data[:200]!r}")
        if "error" in payload:
            raise stream_error(payload["error"], status)
        yield payload


def stream_events(response: requests.Response) -> Iterator[dict[str, Any]]:
    """:func:`json_events` of a streamed response; the connection is closed when the caller stops reading."""
    with response:
        yield from json_events(response_lines(response), response.status_code)
