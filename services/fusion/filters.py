"""Metadata filters: a small JSON language compiled to a Milvus boolean expression over the ``meta`` field.

``{"kind": "photo", "year": {"$gte": 2020}, "tag": {"$in": ["a", "b"]}}`` means every condition holds.
Values are JSON-encoded into the expression, and keys are restricted, so no input can inject syntax.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from servekit.errors import InvalidInput

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_COMPARISONS = {"$eq": "==", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
# Lists become chains of comparisons: Milvus Lite takes no JSON path on the left of ``in``.
_LISTS = {"$in": ("==", " or "), "$nin": ("!=", " and ")}
Scalar = str | int | float | bool


def _literal(value: Any, param: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        value = float(value)  # as items store such metadata (services/fusion/schemas.py: storable)
    if isinstance(value, bool | int | float | str):
        return json.dumps(value, ensure_ascii=False)
    raise InvalidInput("filter values must be strings, numbers or booleans", param=param, code="invalid_filter")


def _condition(field: str, operator: str, value: Any, param: str) -> str:
    if operator in _COMPARISONS:
        return f"{field} {_COMPARISONS[operator]} {_literal(value, param)}"
    if operator in _LISTS:
        if not isinstance(value, list) or not value:
            raise InvalidInput(f"{operator} takes a non-empty list", param=param, code="invalid_filter")
        comparison, joiner = _LISTS[operator]
        return joiner.join(f"{field} {comparison} {_literal(v, param)}" for v in value)
    raise InvalidInput(f"unknown filter operator {operator!r}", param=param, code="invalid_filter")


def compile_filter(where: Mapping[str, Any] | None, column: str = "meta") -> str:
    """The Milvus expression for ``where`` (empty string: no filter)."""
    if not where:
        return ""
    parts: list[str] = []
    for key, spec in where.items():
        param = f"filter.{key}"
        if not _KEY.match(key):
            raise InvalidInput("filter keys are letters, digits and underscores", param=param,
                               code="invalid_filter")
        field = f'{column}["{key}"]'
        if isinstance(spec, dict):
            if not spec:
                raise InvalidInput("empty filter condition", param=param, code="invalid_filter")
            parts.extend(_condition(field, op, value, f"{param}.{op}") for op, value in spec.items())
        else:
            parts.append(_condition(field, "$eq", spec, param))
    return " and ".join(f"({part})" for part in parts)
