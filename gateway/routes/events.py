"""Relaying an upstream's server-sent events to the client as they arrive, never buffered whole."""

from __future__ import annotations

from collections.abc import Iterator

import requests

UPSTREAM_GONE = (b'data: {"error": {"message": "the upstream service stopped answering", "type": "server_error", '
                 b'"param": null, "code": "upstream_unavailable"}}\n\n')


def relay_events(response: requests.Response) -> Iterator[bytes]:
    """The upstream body chunk by chunk; closing this (the client left) closes the upstream connection too,
    which stops the work behind it."""
    try:
        yield from response.iter_content(chunk_size=None)
    except requests.RequestException:
        yield UPSTREAM_GONE
    finally:
        response.close()
