"""The Milvus-backed store on a real embedded Milvus Lite file: collections, idempotent upserts, deletes,
filtered search, and writes that survive the process being killed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from servekit.errors import Conflict, InvalidInput, NotFound, UnprocessableInput
from services.fusion.store import ItemRecord, MilvusStore, VectorRow
from tests.support.milvus_server import drop_everything

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["lite", "server"])
def uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The embedded Milvus Lite file, or a real Milvus server emptied after each test."""
    if request.param == "lite":
        yield str(tmp_path / "index.db")
        return
    server: str = request.getfixturevalue("milvus_server_uri")
    yield server
    drop_everything(server)


@pytest.fixture()
def store(uri: str) -> Iterator[MilvusStore]:
    opened = MilvusStore(uri)
    yield opened
    opened.close()


def _unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float64)
    return vector / np.linalg.norm(vector)


def _fill(store: MilvusStore) -> None:
    store.create_collection("media", "test items")
    store.upsert("media", [ItemRecord("cat", {"kind": "pet", "year": 2020}, {"text": "a cat"}),
                           ItemRecord("car", {"kind": "vehicle", "year": 2024}, {})],
                 [VectorRow("cat", "text", "words", _unit(1, 0, 0)), VectorRow("cat", "image", "pixels", _unit(1, 1)),
                  VectorRow("car", "text", "words", _unit(0, 1, 0))])


def test_collections_are_created_listed_described_and_dropped(store: MilvusStore) -> None:
    _fill(store)
    info = store.collection_info("media")
    assert info["items"] == 2 and info["description"] == "test items"
    assert {s["space"]: s["dimensions"] for s in info["spaces"]} == {"words": 3, "pixels": 2}
    assert store.list_collections() == ["media"]
    with pytest.raises(Conflict):
        store.create_collection("media")
    with pytest.raises(InvalidInput):
        store.create_collection("Bad__name")
    store.drop_collection("media")
    assert store.list_collections() == []
    with pytest.raises(NotFound):
        store.collection_info("media")


def test_search_ranks_by_inner_product_and_applies_filters(store: MilvusStore) -> None:
    _fill(store)
    hits = store.search("media", "words", _unit(1, 0.1, 0), 5)
    assert [h.item_id for h in hits] == ["cat", "car"]
    assert hits[0].score == pytest.approx(float(_unit(1, 0.1, 0) @ _unit(1, 0, 0)), abs=1e-5)
    assert [h.item_id for h in store.search("media", "words", _unit(1, 0, 0), 5, 'meta["year"] > 2021')] == ["car"]
    assert store.search("media", "unknown-space", _unit(1, 0, 0), 5) == []


def test_upsert_is_idempotent_and_replaces_the_vectors_of_an_item(store: MilvusStore) -> None:
    _fill(store)
    store.upsert("media", [ItemRecord("cat", {"kind": "pet"}, {"text": "a cat again"})],
                 [VectorRow("cat", "text", "words", _unit(0, 0, 1))])
    assert store.count("media") == 2
    vectors = store.vectors("media", ["cat"])
    assert list(vectors["cat"]) == ["text"]  # the image vector it no longer has is gone
    assert vectors["cat"]["text"]["words"] == pytest.approx(_unit(0, 0, 1), abs=1e-6)
    assert store.get("media", ["cat"])["cat"].content["text"] == "a cat again"
    with pytest.raises(UnprocessableInput):
        store.upsert("media", [ItemRecord("x")], [VectorRow("x", "text", "words", _unit(1, 0))])


def test_delete_removes_items_and_their_vectors(store: MilvusStore) -> None:
    _fill(store)
    assert store.delete("media", ["cat", "nobody"]) == 1
    assert store.get("media", ["cat"]) == {} and store.vectors("media", ["cat"]) == {}
    assert [h.item_id for h in store.search("media", "words", _unit(1, 0, 0), 5)] == ["car"]


_WRITER = """
import os, signal, numpy as np
from services.fusion.store import ItemRecord, MilvusStore, VectorRow
from tests.support.milvus_server import drop_everything
store = MilvusStore({path!r})
store.create_collection("durable")
store.upsert("durable", [ItemRecord("kept", {{"n": 1}}, {{}})], [VectorRow("kept", "text", "s", np.array([1.0, 0.0]))])
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_acknowledged_writes_survive_a_killed_process(uri: str) -> None:
    path = uri
    writer = subprocess.run([sys.executable, "-c", textwrap.dedent(_WRITER.format(path=path))], cwd=ROOT,
                            capture_output=True, timeout=120)
    assert writer.returncode == -9, writer.stderr.decode()[-2000:]
    reopened = MilvusStore(path)
    try:
        assert reopened.get("durable", ["kept"])["kept"].metadata == {"n": 1}
        assert [h.item_id for h in reopened.search("durable", "s", np.array([1.0, 0.0]), 3)] == ["kept"]
    finally:
        reopened.close()


def test_unicode_ids_and_filter_values_work_and_unsafe_ids_are_refused(store: MilvusStore) -> None:
    from services.fusion.filters import compile_filter

    store.create_collection("text")
    # JSON's \u0001 and \t escapes mean nothing to Milvus's parser: control characters must still match
    metadata = [{"k": "ünï"}, {"k": 'a"b'}, {"k": "back\\slash"}, {"k": "nul\x00ctl\x01\x1f\x7f"},
                {"k": "line\nfeed\rreturn\ttab\bback\fform"}]
    ids = ["ünï 🚀", "x:y/z", "a b$%&()", "controls", "whitespace"]
    store.upsert("text", [ItemRecord(i, m, {}) for i, m in zip(ids, metadata, strict=True)],
                 [VectorRow(i, "text", "s", _unit(1, 0)) for i in ids])
    assert sorted(store.get("text", ids)) == sorted(ids) and len(store.vectors("text", ids)) == len(ids)
    for item_id, meta in zip(ids, metadata, strict=True):
        assert [h.item_id for h in store.search("text", "s", _unit(1, 0), 5, compile_filter(meta))] == [item_id]
    for unsafe in ['a"b', "it's", "back\\slash", "tab\there", ""]:
        with pytest.raises(InvalidInput):
            store.get("text", [unsafe])


INDEXED_FILTERS: list[dict[str, Any]] = [
    {"kind": "pet"}, {"kind": {"$ne": "pet"}}, {"year": {"$lt": 2023}}, {"year": {"$gte": 2020, "$lte": 2024}},
    {"kind": {"$in": ["pet", "toy"]}}, {"kind": {"$nin": ["pet"]}}, {"score": {"$gt": 0.5}},
    {"kind": "pet", "score": {"$lte": 0.9}},
]


_OPS = {"$eq": lambda a, b: a == b, "$ne": lambda a, b: a != b, "$gt": lambda a, b: a > b,
        "$gte": lambda a, b: a >= b, "$lt": lambda a, b: a < b, "$lte": lambda a, b: a <= b,
        "$in": lambda a, b: a in b, "$nin": lambda a, b: a not in b}


def _matches(metadata: dict[str, Any], where: dict[str, Any]) -> bool:
    """The filter language's meaning: every condition holds, and a missing key matches nothing."""
    for key, spec in where.items():
        conditions = spec.items() if isinstance(spec, dict) else [("$eq", spec)]
        if key not in metadata or not all(_OPS[op](metadata[key], value) for op, value in conditions):
            return False
    return True


def test_indexed_keys_filter_by_their_typed_columns(store: MilvusStore) -> None:
    from services.fusion.filters import compile_filter

    indexed = {"kind": "string", "year": "int", "score": "float"}
    store.create_collection("typed", indexed=indexed)
    metadata: dict[str, dict[str, Any]] = {
        "a": {"kind": "pet", "year": 2020, "score": 0.9}, "b": {"kind": "toy", "year": 2024, "score": 0.2},
        "c": {"year": 2019}, "d": {"kind": "pet", "score": 1}, "e": {"other": "x"}}
    store.upsert("typed", [ItemRecord(i, m, {}) for i, m in metadata.items()],
                 [VectorRow(i, "text", "s", _unit(1, n / 10)) for n, i in enumerate(metadata)])
    assert store.collection_info("typed")["indexed"] == indexed and store.get("typed", ["d"])["d"].metadata == {
        "kind": "pet", "score": 1}
    for where in INDEXED_FILTERS:
        typed = compile_filter(where, indexed=store.indexed("typed"))
        assert "meta[" not in typed
        got = {h.item_id for h in store.search("typed", "s", _unit(1, 0), 10, typed)}
        assert got == {i for i, m in metadata.items() if _matches(m, where)}, where
        by_json = {h.item_id for h in store.search("typed", "s", _unit(1, 0), 10, compile_filter(where))}
        assert by_json == got, where


@pytest.mark.parametrize("value", ["2020", 1.5, True, None])
def test_a_value_of_the_wrong_type_for_an_indexed_key_is_refused(store: MilvusStore, value: object) -> None:
    store.create_collection("typed", indexed={"year": "int"})
    with pytest.raises(InvalidInput) as refused:
        store.upsert("typed", [ItemRecord("x", {"year": value}, {})], [VectorRow("x", "text", "s", _unit(1, 0))])
    assert refused.value.code == "invalid_metadata"
    assert store.count("typed") == 0


def test_a_vector_table_milvus_fails_to_create_is_a_503_that_leaves_nothing_behind(
        store: MilvusStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by fuzzing: Milvus Lite failed its own index wait right after a same-named collection was dropped."""
    from pymilvus import MilvusException

    from servekit.errors import UpstreamUnavailable
    from services.fusion.store import space_table

    store.create_collection("media")
    create = store._client.create_collection

    def half_made(table: str, **kwargs: Any) -> None:
        create(table, **kwargs)
        raise MilvusException(700, f"no index on collection {table!r}")

    monkeypatch.setattr(store._client, "create_collection", half_made)
    row = VectorRow("a", "text", "words", _unit(1, 0))
    with pytest.raises(UpstreamUnavailable) as refused:
        store.upsert("media", [ItemRecord("a", {}, {})], [row])
    assert (refused.value.status, refused.value.code) == (503, "store_busy")
    assert refused.value.headers == {"Retry-After": "1"}
    assert not store._client.has_collection(space_table("media", "words"))  # the half-made table is gone
    monkeypatch.setattr(store._client, "create_collection", create)
    store.upsert("media", [ItemRecord("a", {}, {})], [row])  # the retry succeeds
    assert store.get("media", ["a"]) and set(store.spaces("media")) == {"words"}

