"""Moving collections from the embedded Milvus Lite file to a real Milvus server: everything arrives."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from services.fusion.filters import compile_filter
from services.fusion.migrate import migrate
from services.fusion.store import ItemRecord, MilvusStore, VectorRow
from tests.support.milvus_server import drop_everything

COUNT = 1200  # more than one copy batch


@pytest.fixture()
def server(milvus_server_uri: str) -> Iterator[str]:
    yield milvus_server_uri
    drop_everything(milvus_server_uri)


def _fill(path: Path) -> None:
    store = MilvusStore(str(path))
    rng = np.random.default_rng(0)
    try:
        store.create_collection("media", "to move", indexed={"kind": "string"})
        store.create_collection("empty")
        ids = [f"item {i}" for i in range(COUNT)]
        records = [ItemRecord(i, {"kind": "odd" if n % 2 else "even", "n": n}, {"text": f"text {n}"})
                   for n, i in enumerate(ids)]
        rows = [VectorRow(i, "text", "words", rng.standard_normal(8)) for i in ids]
        rows += [VectorRow(i, "image", "pixels", rng.standard_normal(4)) for i in ids[:10]]
        store.upsert("media", records, [VectorRow(r.item_id, r.modality, r.space, r.vector / np.linalg.norm(r.vector))
                                        for r in rows])
    finally:
        store.close()


def test_every_collection_item_vector_and_index_declaration_arrives(tmp_path: Path, server: str) -> None:
    source = tmp_path / "index.db"
    _fill(source)
    assert migrate(str(source), server) == {"empty": 0, "media": COUNT}
    before, after = MilvusStore(str(source)), MilvusStore(server)
    try:
        info = after.collection_info("media")
        assert (info["items"], info["description"], info["indexed"]) == (COUNT, "to move", {"kind": "string"})
        assert {s["space"]: s["dimensions"] for s in info["spaces"]} == {"words": 8, "pixels": 4}
        sample = ["item 0", "item 5", "item 1199"]
        assert after.get("media", sample) == before.get("media", sample)
        for item_id, modalities in before.vectors("media", sample).items():
            for modality, spaces in modalities.items():
                for space, vector in spaces.items():
                    moved = after.vectors("media", [item_id])[item_id][modality][space]
                    assert np.allclose(moved, vector, atol=1e-6)
        query = before.vectors("media", ["item 7"])["item 7"]["text"]["words"]
        where = compile_filter({"kind": "odd"}, indexed=after.indexed("media"))
        assert after.search("media", "words", query, 1, where)[0].item_id == "item 7"
        assert after.collection_info("empty")["items"] == 0
    finally:
        before.close()
        after.close()


def test_an_existing_collection_is_refused_unless_replaced(tmp_path: Path, server: str) -> None:
    source = tmp_path / "index.db"
    _fill(source)
    migrate(str(source), server, ["empty"])
    with pytest.raises(SystemExit):
        migrate(str(source), server, ["empty"])
    assert migrate(str(source), server, ["empty"], replace=True) == {"empty": 0}
