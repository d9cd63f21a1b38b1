"""JSON with orjson where bodies are large (embedding vectors): numpy float32 arrays are written straight from
their buffers, each number in its shortest form that reads back to the same float32, several times faster than
``json`` on lists of Python floats."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Response

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload, option=_OPTIONS)


def loads(body: bytes | str) -> Any:
    return orjson.loads(body)


def json_response(payload: Any, status: int = 200) -> Response:
    """A Flask JSON response written by orjson (numpy arrays allowed in ``payload``)."""
    return Response(dumps(payload), status=status, mimetype="application/json")
