"""Request parsing: JSON only where JSON is expected, bodies validated by pydantic models into clear 4xx."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from servekit.errors import InvalidInput, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)


def require_json() -> Any:
    """The parsed JSON body; 415 for another content type, 400 for malformed JSON."""
    if not request.is_json:
        raise UnsupportedMediaType(
            f"expected Content-Type application/json, got {request.mimetype or 'none'}"
        )
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidInput("request body is not valid JSON", code="invalid_json")
    return body


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


def parse_model(model: type[M], data: Any) -> M:
    """Validate ``data`` against ``model``; a failure becomes a 400 naming the parameter."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, param = validation_message(exc)
        raise InvalidInput(message, param=param) from None


def parse_json(model: type[M]) -> M:
    return parse_model(model, require_json())


def check_item_count(count: int, limit: int, *, param: str = "input", noun: str = "inputs") -> None:
    """400 ``too_many_<noun>`` when a request carries more items than the service takes at once."""
    if count > limit:
        raise InvalidInput(f"at most {limit} {noun} per request, got {count}", param=param,
                           code=f"too_many_{noun}")
