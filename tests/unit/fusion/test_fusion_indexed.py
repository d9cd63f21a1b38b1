"""Indexed metadata keys: declarations checked, typed values (sentinels for missing keys), filters on columns."""

from __future__ import annotations

import pytest

from servekit.errors import InvalidInput
from services.fusion.filters import compile_filter
from services.fusion.indexed import SENTINELS, check_indexed, indexed_values, scalar_index_type

INDEXED = {"kind": "string", "year": "int", "price": "float"}


def test_filters_on_declared_keys_use_the_typed_column_and_exclude_missing_values() -> None:
    expression = compile_filter({"kind": {"$nin": ["a", "b"]}, "tag": "x"}, indexed=INDEXED)
    assert expression == ('((m_kind != "a" and m_kind != "b") and m_kind != "~polyserve:missing~") and '
                          '(meta["tag"] == "x")')
    assert compile_filter({"year": {"$lt": 2000}}, indexed=INDEXED) == (
        f"((m_year < 2000) and m_year != {SENTINELS['int']})")


def test_values_are_typed_and_missing_keys_hold_the_sentinel() -> None:
    assert indexed_values(INDEXED, {"kind": "pet", "price": 3}, "a") == {
        "m_kind": "pet", "m_year": SENTINELS["int"], "m_price": 3.0}


@pytest.mark.parametrize(("key", "value"), [("year", 1.5), ("year", True), ("year", "2020"), ("price", "1"),
                                            ("price", float("nan")), ("kind", 3), ("kind", "x" * 513),
                                            ("kind", SENTINELS["string"]), ("year", SENTINELS["int"])])
def test_wrong_values_are_refused(key: str, value: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        indexed_values(INDEXED, {key: value}, "item-1")
    assert refused.value.code == "invalid_metadata" and refused.value.param == f"items[item-1].metadata.{key}"


@pytest.mark.parametrize("indexed", [{"k": "date"}, {"1k": "int"}, {"k-k": "int"}, {f"k{i}": "int" for i in range(17)}])
def test_bad_declarations_are_refused(indexed: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_indexed(indexed)
    assert refused.value.code == "invalid_indexed"


def test_the_scalar_index_suits_the_server_version() -> None:
    assert [scalar_index_type(k, legacy=False) for k in ("string", "int")] == ["INVERTED", "INVERTED"]
    assert [scalar_index_type(k, legacy=True) for k in ("string", "float")] == ["Trie", "STL_SORT"]
