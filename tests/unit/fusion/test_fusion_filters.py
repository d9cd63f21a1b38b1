"""Metadata filters compile to Milvus expressions; nothing a client sends can inject syntax."""

from __future__ import annotations

import pytest

from servekit.errors import InvalidInput
from services.fusion.filters import compile_filter


def test_equality_ranges_and_lists() -> None:
    expression = compile_filter({"kind": "photo", "year": {"$gte": 2020, "$lt": 2030}, "tag": {"$in": ["a", "b"]}})
    assert expression == ('(meta["kind"] == "photo") and (meta["year"] >= 2020) and (meta["year"] < 2030) and '
                          '(meta["tag"] == "a" or meta["tag"] == "b")')
    assert compile_filter({"tag": {"$nin": ["x"]}}) == '((exists meta["tag"]) and (meta["tag"] != "x"))'
    assert compile_filter(None) == "" and compile_filter({}) == ""


def test_string_values_are_quoted_so_they_cannot_escape() -> None:
    assert compile_filter({"k": 'a" or 1 == 1 or "'}) == r'(meta["k"] == "a\" or 1 == 1 or \"")'


@pytest.mark.parametrize("where", [{"bad key": 1}, {'k"]': 1}, {"k": {"$regex": "x"}}, {"k": {"$in": []}},
                                   {"k": {"$in": "x"}}, {"k": [1, 2]}, {"k": {}}, {"k": None}])
def test_bad_filters_are_400(where: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput) as raised:
        compile_filter(where)
    assert raised.value.code == "invalid_filter"
