"""Metadata filters: a small JSON language compiled to a Milvus boolean expression over the ``meta`` field.

``{"kind": "photo", "year": {"$gte": 2020}, "tag": {"$in": ["a", "b"]}}`` means every condition holds.
String values are quoted by ``string_literal``, numbers are written by ``json``, and keys are restricted, so no
input can inject syntax.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from servekit.errors import InvalidInput
from services.fusion.indexed import column as indexed_column
from services.fusion.indexed import guarded

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_COMPARISONS = {"$eq": "==", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
# Lists become chains of comparisons: Milvus Lite takes no JSON path on the left of ``in``.
_LISTS = {"$in": ("==", " or "), "$nin": ("!=", " and ")}
_NEGATIONS = frozenset({"$ne", "$nin"})
# The only characters a Milvus string literal cannot hold as themselves. Milvus's parser knows no ``\uXXXX``,
# ``\xXX`` or octal escape, so every other character, control characters included, is written as it is.
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def string_literal(value: str) -> str:
    """``value`` as a double-quoted Milvus literal that means exactly ``value`` (JSON's escapes would not)."""
    return '"' + value.translate(_STRING_ESCAPES) + '"'


def _literal(value: Any, param: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        value = float(value)  # as items store such metadata (services/fusion/schemas.py: storable)
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, bool | int | float):
        return json.dumps(value)
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


def compile_filter(where: Mapping[str, Any] | None, column: str = "meta",
                   indexed: Mapping[str, str] | None = None) -> str:
    """The Milvus expression for ``where`` (empty string: no filter); ``indexed`` keys use their typed column."""
    if not where:
        return ""
    parts: list[str] = []
    for key, spec in where.items():
        param = f"filter.{key}"
        if not _KEY.match(key):
            raise InvalidInput("filter keys are letters, digits and underscores", param=param,
                               code="invalid_filter")
        kind = (indexed or {}).get(key)
        field = indexed_column(key) if kind else f'{column}["{key}"]'
        if isinstance(spec, dict):
            if not spec:
                raise InvalidInput("empty filter condition", param=param, code="invalid_filter")
            conditions = [_condition(field, op, value, f"{param}.{op}") for op, value in spec.items()]
        else:
            conditions = [_condition(field, "$eq", spec, param)]
        if kind:
            parts.extend(guarded(key, kind, c) for c in conditions)
        else:
            negated = isinstance(spec, dict) and bool(_NEGATIONS & spec.keys())
            # A Milvus server (2.3) lets a negation match rows without the key; Milvus Lite does not: say it.
            parts.extend(f"(exists {field}) and ({c})" if negated else c for c in conditions)
    return " and ".join(f"({part})" for part in parts)
