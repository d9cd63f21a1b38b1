"""The Milvus-backed store on a real embedded Milvus Lite file: collections, idempotent upserts, deletes,
filtered search, and writes that survive the process being killed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from servekit.errors import Conflict, InvalidInput, NotFound, UnprocessableInput
from services.fusion.store import ItemRecord, MilvusStore, VectorRow

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[MilvusStore]:
    opened = MilvusStore(str(tmp_path / "index.db"))
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
store = MilvusStore({path!r})
store.create_collection("durable")
store.upsert("durable", [ItemRecord("kept", {{"n": 1}}, {{}})], [VectorRow("kept", "text", "s", np.array([1.0, 0.0]))])
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_acknowledged_writes_survive_a_killed_process(tmp_path: Path) -> None:
    path = str(tmp_path / "index.db")
    tmp_path.mkdir(exist_ok=True)
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
    metadata = [{"k": "ünï"}, {"k": 'a"b'}, {"k": "back\\slash"}]
    ids = ["ünï 🚀", "x:y/z", "a b$%&()"]
    store.upsert("text", [ItemRecord(i, m, {}) for i, m in zip(ids, metadata, strict=True)],
                 [VectorRow(i, "text", "s", _unit(1, 0)) for i in ids])
    assert sorted(store.get("text", ids)) == sorted(ids) and len(store.vectors("text", ids)) == 3
    for item_id, meta in zip(ids, metadata, strict=True):
        assert [h.item_id for h in store.search("text", "s", _unit(1, 0), 5, compile_filter(meta))] == [item_id]
    for unsafe in ['a"b', "it's", "back\\slash", "tab\there", ""]:
        with pytest.raises(InvalidInput):
            store.get("text", [unsafe])
