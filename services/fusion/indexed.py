"""Indexed metadata keys: a collection may declare metadata keys (``{"kind": "string", "year": "int"}``) whose
values its vector tables also keep in typed scalar columns (``m_kind``, ``m_year``) under a scalar index.

Filters on a declared key compare that column (an index lookup) instead of parsing every row's ``meta`` JSON,
which neither Milvus Lite nor Milvus 2.3 can index. An item without the key stores a sentinel that filters
exclude, so a declared key filters exactly as the JSON path would (a missing key never matches).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pymilvus import CollectionSchema, DataType

from servekit.errors import InvalidInput

IndexedKind = Literal["string", "int", "float"]
IndexedFields = Mapping[str, str]
KINDS: tuple[str, ...] = ("string", "int", "float")
MAX_INDEXED = 16
MAX_STRING = 512
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Values no item may hold (refused on write); small enough for Milvus's expression parser to read back.
SENTINELS: dict[str, Any] = {"string": "~polyserve:missing~", "int": -(2**63) + 1, "float": -1.7976931348623157e308}
_TYPES = {"string": DataType.VARCHAR, "int": DataType.INT64, "float": DataType.DOUBLE}


def column(key: str) -> str:
    return f"m_{key}"


def check_indexed(indexed: Mapping[str, str]) -> None:
    """400 for a bad declaration: too many keys, a key filters could not name, an unknown type."""
    if len(indexed) > MAX_INDEXED:
        raise InvalidInput(f"at most {MAX_INDEXED} indexed metadata keys", param="indexed", code="invalid_indexed")
    for key, kind in indexed.items():
        if not KEY.match(key):
            raise InvalidInput("indexed keys are letters, digits and underscores", param=f"indexed.{key}",
                               code="invalid_indexed")
        if kind not in KINDS:
            raise InvalidInput(f"indexed types are {', '.join(KINDS)}", param=f"indexed.{key}",
                               code="invalid_indexed")


def indexed_columns(indexed: IndexedFields) -> Iterator[tuple[str, str]]:
    for key, kind in sorted(indexed.items()):
        yield column(key), kind


def add_indexed_fields(schema: CollectionSchema, indexed: IndexedFields) -> None:
    for name, kind in indexed_columns(indexed):
        extra = {"max_length": MAX_STRING + 16} if kind == "string" else {}
        schema.add_field(name, _TYPES[kind], **extra)


def scalar_index_type(kind: str, legacy: bool) -> str:
    """INVERTED (Milvus 2.4+, Milvus Lite); on Milvus 2.3, Trie for strings and STL_SORT for numbers."""
    if not legacy:
        return "INVERTED"
    return "Trie" if kind == "string" else "STL_SORT"


def _value(kind: str, value: Any, param: str) -> Any:
    if kind == "string" and isinstance(value, str) and len(value) <= MAX_STRING and value != SENTINELS[kind]:
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool) and -(2**63) + 1 < value < 2**63:
        return value
    if kind == "float" and isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise InvalidInput(f"{param} is an indexed {kind} key of this collection", param=param,
                       code="invalid_metadata")


def indexed_values(indexed: IndexedFields, metadata: Mapping[str, Any], item_id: str) -> dict[str, Any]:
    """The typed columns of one item (a sentinel where its metadata lacks the key); 400 for a wrong type."""
    return {column(key): _value(kind, metadata[key], f"items[{item_id}].metadata.{key}") if key in metadata
            else SENTINELS[kind] for key, kind in indexed.items()}


def guarded(key: str, kind: str, condition: str) -> str:
    """A condition on an indexed column that never matches an item lacking the key."""
    sentinel = SENTINELS[kind]
    literal = f'"{sentinel}"' if kind == "string" else repr(sentinel)
    return f"({condition}) and {column(key)} != {literal}"
