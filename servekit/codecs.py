"""Encodings shared by services and the gateway: float vectors as base64, base64 and data-URI payloads."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

import numpy as np

from servekit.errors import InvalidInput, PayloadTooLarge

_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+\-]+/[\w.+\-]+)?(?P<params>(;[\w\-]+=[^;,]*)*)(?P<b64>;base64)?,",
                       re.IGNORECASE)


def vector_to_base64(vector: Sequence[float] | np.ndarray) -> str:
    """Little-endian float32 bytes, base64: what OpenAI's ``encoding_format=base64`` returns."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def base64_to_vector(data: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(data), dtype="<f4")


def decode_base64_payload(value: str, *, max_bytes: int, param: str) -> tuple[bytes, str | None]:
    """Bytes and declared MIME type of a base64 string or a ``data:`` URI; clear 4xx on anything else."""
    mime: str | None = None
    payload = value.strip()
    match = _DATA_URI.match(payload)
    if match:
        if not match.group("b64"):
            raise InvalidInput("only base64 data URIs are accepted", param=param, code="invalid_data_uri")
        mime = (match.group("mime") or "").lower() or None
        payload = payload[match.end():]
    elif payload.startswith("data:"):
        raise InvalidInput("malformed data URI", param=param, code="invalid_data_uri")
    if not payload:
        raise InvalidInput("empty base64 payload", param=param, code="empty_input")
    if len(payload) * 3 // 4 > max_bytes:
        raise PayloadTooLarge(f"decoded payload exceeds {max_bytes} bytes", param=param)
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("payload is not valid base64", param=param, code="invalid_base64") from None
    if not raw:
        raise InvalidInput("empty base64 payload", param=param, code="empty_input")
    return raw, mime
