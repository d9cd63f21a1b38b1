"""The one strict JSON intake of every service: a body is parsed once, under limits, or refused with a 400.

What is refused (400, the shared error shape), and why:

- a Content-Type that is not JSON: 415 ``unsupported_media_type``;
- bytes that are not JSON (or not UTF-8/16/32): ``invalid_json``;
- nesting deeper than :data:`MAX_JSON_DEPTH` arrays/objects: ``json_too_deep`` (checked before parsing, so
  that a body of 100,000 ``[`` never reaches the recursive parser);
- ``NaN``, ``Infinity``, ``-Infinity`` and numbers too large for a float (``1e999``): ``invalid_number``; they
  are not JSON (RFC 8259) and no encoder downstream can send them on;
- (not refused) a number written with a fraction or exponent that is integral (``3.0``) is read as the
  integer, as JSON Schema counts it; other numbers with a fraction stay floats;
- the same key twice in one object: ``duplicate_key`` (which one wins differs between parsers, so neither does);
- strings with lone UTF-16 surrogates (``"\\ud800"``): ``invalid_unicode``; they cannot be encoded to UTF-8.

The size limit is the service's body limit (``*_MAX_BODY_BYTES``, 413 ``payload_too_large``), enforced by
Flask before a byte is read. The parsed body is kept on the request, so the cache, the route and any
hook that looks at it share one parse.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
from flask import g, request

from servekit.errors import InvalidInput, UnsupportedMediaType

MAX_JSON_DEPTH = 64
MAX_EXACT_INTEGER = 2**53  # floats represent every integer below this exactly
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_PARSED = "_strict_json_body"
_OPENERS = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSERS = np.frombuffer(b"]}", dtype=np.uint8)


class InvalidJson(InvalidInput):
    code = "invalid_json"


def nesting_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in ``data``, ignoring brackets inside strings."""
    skeleton = np.frombuffer(_STRINGS.sub(b"", data), dtype=np.uint8)
    if skeleton.size == 0:
        return 0
    steps = np.isin(skeleton, _OPENERS).astype(np.int64) - np.isin(skeleton, _CLOSERS).astype(np.int64)
    return int(np.cumsum(steps).max(initial=0))


def _refuse_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON number: send a finite number", code="invalid_number")


def _finite_number(text: str) -> float | int:
    """A JSON number with a fraction or exponent; integral ones (``3.0``, ``1e2``) are integers, as JSON Schema
    counts them, so that ``"top_k": 3.0`` passes where the document says integer."""
    value = float(text)
    if not math.isfinite(value):
        raise InvalidJson(f"the number {text[:40]} is too large for a 64-bit float", code="invalid_number")
    if value.is_integer() and abs(value) < MAX_EXACT_INTEGER:
        return int(value)
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidJson(f"the key {key[:100]!r} appears twice in one object", param=key[:100],
                              code="duplicate_key")
        result[key] = value
    return result


def _check_unicode(value: Any) -> None:
    """Walk the parsed value; any string that UTF-8 cannot encode is refused."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidJson("a string holds a lone UTF-16 surrogate escape", code="invalid_unicode") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_strict(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse ``data`` as strict JSON (see the module docstring); every refusal is an :class:`InvalidInput`."""
    if not data.strip():
        raise InvalidJson("request body is empty")
    # Fewer brackets than the limit cannot nest past it: most bodies skip the scan.
    depth = nesting_depth(data) if data.count(b"[") + data.count(b"{") > max_depth else 0
    if depth > max_depth:
        raise InvalidJson(f"JSON nests {depth} levels deep; at most {max_depth} are allowed", code="json_too_deep")
    try:
        value = json.loads(data, parse_constant=_refuse_constant, parse_float=_finite_number,
                           object_pairs_hook=_unique_keys)
    except InvalidInput:
        raise
    except (ValueError, RecursionError):
        # ValueError covers malformed JSON, undecodable bytes and integers past Python's digit limit.
        raise InvalidJson("request body is not valid JSON") from None
    if _SURROGATE_ESCAPE.search(data):
        _check_unicode(value)
    return value


def request_json() -> Any:
    """The current request's body as strict JSON, parsed once per request; 415 for another content type."""
    if not request.is_json:
        raise UnsupportedMediaType(f"expected Content-Type application/json, got {request.mimetype or 'none'}")
    if _PARSED not in g:
        setattr(g, _PARSED, parse_strict(request.get_data(cache=True)))
    return g.get(_PARSED)


def request_json_or_none() -> Any:
    """The body as strict JSON, or None when it is not JSON or is refused (for hooks that only peek)."""
    try:
        return request_json()
    except (InvalidInput, UnsupportedMediaType):
        return None
