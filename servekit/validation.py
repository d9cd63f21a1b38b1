"""Request parsing: JSON only where JSON is expected, bodies validated by pydantic models into clear 4xx."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from servekit.errors import InvalidInput
from servekit.jsonbody import request_json

M = TypeVar("M", bound=BaseModel)
# At least one character that is not whitespace, the whitespace spelled out: `\S` differs between Python (whose
# str.strip() and isspace() these are), pydantic's regex engine and the JSON Schema (ECMA) one that clients and
# fuzzers use (U+0085, U+001C-U+001F, U+FEFF). Schemas state it as a pattern; code asks ``is_blank``.
NOT_BLANK = r"[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def is_blank(text: str) -> bool:
    """Blank as the ``NOT_BLANK`` pattern says (the same as ``not text.strip()``), in every regex engine alike."""
    return re.search(NOT_BLANK, text) is None


def require_json() -> Any:
    """The parsed JSON body (strict: servekit/jsonbody.py); 415 for another content type, 400 for bad JSON."""
    return request_json()


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + part)
    return "".join(parts)


def validation_message(error: ValidationError) -> tuple[str, str | None]:
    """The first problem as a short human message and the parameter it concerns."""
    first = error.errors(include_url=False)[0]
    param = _location(tuple(first["loc"])) or None
    message = first["msg"]
    return (f"{param}: {message}" if param else message), param


def parse_model(model: type[M], data: Any, *, strict: bool | None = None) -> M:
    """Validate ``data`` against ``model``; a failure becomes a 400 naming the parameter.

    ``strict``: no type coercion (``"3"`` is not an integer); JSON bodies are strict, form fields (all strings)
    are not."""
    try:
        return model.model_validate(data, strict=strict)
    except ValidationError as exc:
        message, param = validation_message(exc)
        raise InvalidInput(message, param=param) from None


def parse_json(model: type[M]) -> M:
    """The JSON body validated strictly against ``model`` (the types its OpenAPI schema states)."""
    return parse_model(model, require_json(), strict=True)


def check_item_count(count: int, limit: int, *, param: str = "input", noun: str = "inputs") -> None:
    """400 ``too_many_<noun>`` when a request carries more items than the service takes at once."""
    if count > limit:
        raise InvalidInput(f"at most {limit} {noun} per request, got {count}", param=param,
                           code=f"too_many_{noun}")
