"""Storage of collections, items and their vectors behind one small interface, implemented with the Milvus
client API: the same code runs on the embedded Milvus Lite file and on a Milvus server or cluster.

Layout of a collection ``NAME``:
- ``fusion_NAME``: one row per item: ``id`` (primary key), ``record`` (JSON: metadata, texts, bridge texts,
  paths), ``meta`` (the user metadata, for filters) and a two-dimensional ``placeholder`` vector, because
  Milvus requires every collection to hold a vector field. Description and creation time are properties.
- ``fusion_NAME__s<hash>``: one table per embedding space met in this collection, one row per
  (item, modality) vector of that space: ``pk`` = ``modality:item_id``, ``item_id``, ``modality``, ``meta``
  and the unit-length ``vector`` (inner product = cosine). The space id and dimension are collection properties.
Writes are acknowledged after Milvus accepts them: Milvus Lite appends them to its write-ahead log first and a
Milvus server to its log broker, so a killed process loses nothing it acknowledged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from servekit.catalog import MODALITIES
from servekit.errors import Conflict, InvalidInput, NotFound, UnprocessableInput, UpstreamUnavailable
from services.fusion.filters import string_literal
from services.fusion.indexed import (
    IndexedFields,
    add_indexed_fields,
    indexed_columns,
    indexed_values,
    scalar_index_type,
)

log = logging.getLogger(__name__)

PREFIX = "fusion_"
SPACE_SEPARATOR = "__s"
MAX_QUERY = 16_384
SPACES_TTL_S = 5.0  # another replica may add a space table; re-read the list this often
# Item ids end up inside Milvus expressions (pymilvus quotes them without escaping): no quotes, backslashes or
# control characters; anything else, unicode included, up to 256 characters.
_ITEM_ID = re.compile(r"^[^\"'\\\x00-\x1f\x7f]{1,256}$")
_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|_(?!_)){0,62}$")


@dataclass(frozen=True)
class VectorRow:
    item_id: str
    modality: str
    space: str
    vector: np.ndarray


@dataclass
class ItemRecord:
    id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    content: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "metadata": self.metadata, **self.content}


@dataclass(frozen=True)
class Hit:
    item_id: str
    modality: str
    score: float


class _UnimplementedRpcFilter(logging.Filter):
    """pymilvus asks every server for a timestamp when it creates an index; Milvus Lite's in-process server does
    not implement that call (harmlessly) and grpc logs it as an error on each new collection. Drop that line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Method not implemented" not in record.getMessage()


_UNIMPLEMENTED_RPC = _UnimplementedRpcFilter()


def check_collection_name(name: str) -> None:
    if not _NAME.match(name):
        raise InvalidInput("collection names are 1-63 lowercase letters, digits and single underscores, "
                           "starting with a letter or digit", param="name", code="invalid_collection_name")


def check_item_ids(ids: Iterable[str], param: str = "id") -> None:
    for item_id in ids:
        if not _ITEM_ID.match(item_id):
            raise InvalidInput("item ids are 1-256 characters without quotes, backslashes or control characters",
                               param=param, code="invalid_item_id")


def space_table(collection: str, space: str) -> str:
    return f"{PREFIX}{collection}{SPACE_SEPARATOR}{hashlib.sha1(space.encode()).hexdigest()[:16]}"


def _id_list(ids: Iterable[str]) -> str:
    return "[" + ", ".join(string_literal(i) for i in ids) + "]"


class MilvusStore:
    """The one storage implementation; ``uri`` is a ``.db`` file (embedded) or a server URL."""

    def __init__(self, uri: str, *, token: str | None = None, db_name: str = "", consistency: str = "Session") -> None:
        kwargs: dict[str, Any] = {"uri": uri}
        if token:
            kwargs["token"] = token
        if db_name:
            kwargs["db_name"] = db_name
        self._client = MilvusClient(**kwargs)
        self._embedded = None if re.match(r"^[a-z]+://", uri) else uri
        if self._embedded is not None:
            logging.getLogger("grpc._server").addFilter(_UNIMPLEMENTED_RPC)
        # Reads see this process's acknowledged writes (Session), or as configured (Milvus Lite: always all).
        self._consistency = consistency
        # Milvus 2.3 answers a delete without its timestamp, so a Session read cannot wait for it: the next read
        # of a table this process deleted from is Strong (once it has seen the delete, later reads will too).
        self._deleted_from: set[str] = set()
        self._legacy_scalar_index: bool | None = None
        self._lock = threading.Lock()
        self._loaded: set[str] = set()
        self._indexed: dict[str, IndexedFields] = {}
        # collection -> (read at, space -> (table, dim))
        self._spaces: dict[str, tuple[float, dict[str, tuple[str, int]]]] = {}

    # ---- collections -------------------------------------------------------------------------------

    def _items_table(self, name: str) -> str:
        return PREFIX + name

    def _ensure_loaded(self, table: str) -> None:
        if table not in self._loaded:
            self._client.load_collection(table)
            self._loaded.add(table)

    def exists(self, name: str) -> bool:
        return bool(_NAME.match(name)) and self._client.has_collection(self._items_table(name))

    def require(self, name: str) -> None:
        if not self.exists(name):
            raise NotFound(f"no collection named {name!r}", param="collection", code="collection_not_found")

    def create_collection(self, name: str, description: str = "",
                          indexed: IndexedFields | None = None) -> dict[str, Any]:
        """A new collection; ``indexed`` metadata keys (key -> string/int/float) get typed, indexed columns in
        its vector tables, so that filters on them use a scalar index instead of parsing every row's JSON."""
        check_collection_name(name)
        with self._lock:
            if self._client.has_collection(self._items_table(name)):
                raise Conflict(f"collection {name!r} already exists", param="name", code="collection_exists")
            schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=512)
            schema.add_field("record", DataType.JSON)
            schema.add_field("meta", DataType.JSON)
            schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=2)
            index = self._client.prepare_index_params()
            index.add_index("placeholder", index_type="AUTOINDEX", metric_type="L2")
            properties = {"polyserve.description": description, "polyserve.created": str(int(time.time())),
                          "polyserve.indexed": json.dumps(dict(indexed or {}))}
            self._client.create_collection(self._items_table(name), schema=schema, index_params=index,
                                           properties=properties)
            self._ensure_loaded(self._items_table(name))
        return self.collection_info(name)

    def _tables(self, name: str) -> list[str]:
        prefix = self._items_table(name) + SPACE_SEPARATOR
        return [t for t in self._client.list_collections() if t.startswith(prefix)]

    def drop_collection(self, name: str) -> None:
        self.require(name)
        with self._lock:
            for table in [*self._tables(name), self._items_table(name)]:
                self._client.drop_collection(table)
                self._loaded.discard(table)
            self._spaces.pop(name, None)
            self._indexed.pop(name, None)

    def list_collections(self) -> list[str]:
        names = [t[len(PREFIX):] for t in self._client.list_collections() if t.startswith(PREFIX)]
        return sorted(n for n in names if SPACE_SEPARATOR not in n and _NAME.match(n))

    def spaces(self, name: str) -> dict[str, tuple[str, int]]:
        """Space id -> (table, dimension) of the vector tables of a collection."""
        cached = self._spaces.get(name)
        if cached is not None and time.monotonic() - cached[0] < SPACES_TTL_S:
            return cached[1]
        found: dict[str, tuple[str, int]] = {}
        for table in self._tables(name):
            properties = self._client.describe_collection(table).get("properties") or {}
            if "polyserve.space" in properties:
                found[properties["polyserve.space"]] = (table, int(properties["polyserve.dim"]))
        self._spaces[name] = (time.monotonic(), found)
        return found

    def indexed(self, name: str) -> IndexedFields:
        """The collection's indexed metadata keys (fixed at creation, so cached for good)."""
        if name not in self._indexed:
            properties = self._client.describe_collection(self._items_table(name)).get("properties") or {}
            self._indexed[name] = json.loads(properties.get("polyserve.indexed") or "{}")
        return self._indexed[name]

    def _uses_legacy_scalar_index(self) -> bool:
        """Milvus before 2.4 knows Trie / STL_SORT scalar indexes, later ones INVERTED (Milvus Lite: only that)."""
        if self._legacy_scalar_index is None:
            version = "" if self._embedded else str(self._client.get_server_version())
            found = re.match(r"v?(\d+)\.(\d+)", version)
            self._legacy_scalar_index = found is not None and (int(found[1]), int(found[2])) < (2, 4)
        return self._legacy_scalar_index

    def collection_info(self, name: str) -> dict[str, Any]:
        self.require(name)
        properties = self._client.describe_collection(self._items_table(name)).get("properties") or {}
        created = properties.get("polyserve.created")
        return {"object": "collection", "name": name, "description": properties.get("polyserve.description", ""),
                "created": int(created) if created else None, "items": self.count(name),
                "indexed": self.indexed(name),
                "spaces": [{"space": s, "dimensions": d} for s, (_, d) in sorted(self.spaces(name).items())]}

    def count(self, name: str) -> int:
        table = self._items_table(name)
        self._ensure_loaded(table)
        rows = self._client.query(table, filter="", output_fields=["count(*)"], **self._read(table))
        return int(rows[0]["count(*)"]) if rows else 0

    # ---- vector tables -----------------------------------------------------------------------------

    def _space_table(self, name: str, space: str, dim: int) -> str:
        known = self.spaces(name).get(space)
        if known is not None:
            if known[1] != dim:
                raise UnprocessableInput(
                    f"space {space!r} holds {known[1]}-dimensional vectors in collection {name!r}, got {dim}",
                    code="dimension_mismatch")
            return known[0]
        with self._lock:
            table = space_table(name, space)
            if not self._client.has_collection(table):
                schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
                schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=600)
                schema.add_field("item_id", DataType.VARCHAR, max_length=512)
                schema.add_field("modality", DataType.VARCHAR, max_length=16)
                schema.add_field("meta", DataType.JSON)
                schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
                add_indexed_fields(schema, self.indexed(name))
                index = self._client.prepare_index_params()
                index.add_index("vector", index_type="AUTOINDEX", metric_type="IP")
                for column, kind in indexed_columns(self.indexed(name)):
                    index.add_index(column, index_type=scalar_index_type(kind, self._uses_legacy_scalar_index()))
                self._create_space_table(table, schema, index, space, dim)
            self._ensure_loaded(table)
            self._spaces.pop(name, None)
        return table

    def _create_space_table(self, table: str, schema: Any, index: Any, space: str, dim: int) -> None:
        """Create a vector table, or leave none behind and answer 503: Milvus Lite can fail its own wait for the
        new index when a collection of that name was just dropped (found by a 30-minute fuzz run, once in 58,609
        cases); the client retries."""
        try:
            self._client.create_collection(table, schema=schema, index_params=index, properties={
                "polyserve.space": space, "polyserve.dim": str(dim)})
        except MilvusException:
            log.warning("creating vector table %s failed; dropping what was made", table, exc_info=True)
            if self._client.has_collection(table):
                self._client.drop_collection(table)
            raise UpstreamUnavailable("the vector store could not create this space's table yet; retry",
                                      code="store_busy", headers={"Retry-After": "1"}) from None

    # ---- items -------------------------------------------------------------------------------------

    def upsert(self, name: str, records: Sequence[ItemRecord], vectors: Sequence[VectorRow]) -> None:
        """Replace whole items: their vectors first, then their records, then vectors they no longer have."""
        self.require(name)
        check_item_ids(r.id for r in records)
        metadata = {r.id: r.metadata for r in records}
        indexed = self.indexed(name)
        columns = {r.id: indexed_values(indexed, r.metadata, r.id) for r in records}
        by_table: dict[str, list[dict[str, Any]]] = {}
        for row in vectors:
            table = self._space_table(name, row.space, int(row.vector.shape[0]))
            by_table.setdefault(table, []).append({
                "pk": f"{row.modality}:{row.item_id}", "item_id": row.item_id, "modality": row.modality,
                "meta": metadata[row.item_id], "vector": np.asarray(row.vector, dtype=np.float32).tolist(),
                **columns[row.item_id]})
        for table, rows in by_table.items():
            self._client.upsert(table, rows)
        self._client.upsert(self._items_table(name), [
            {"id": r.id, "record": dict(r.content, metadata=r.metadata), "meta": r.metadata,
             "placeholder": [0.0, 0.0]} for r in records])
        kept = {table: {row["pk"] for row in rows} for table, rows in by_table.items()}
        self._delete_vectors(name, [r.id for r in records], keep=kept)

    def _read(self, table: str) -> dict[str, str]:
        """The consistency level of the next read of ``table``."""
        if table in self._deleted_from:
            self._deleted_from.discard(table)
            return {"consistency_level": "Strong"}
        return {"consistency_level": self._consistency}

    def _delete_rows(self, table: str, ids: list[str]) -> None:
        self._client.delete(table, ids=ids)
        self._deleted_from.add(table)

    def _rows_of(self, table: str, ids: Sequence[str], fields: list[str]) -> list[dict[str, Any]]:
        """The rows of these items in one vector table, looked up by primary key (one per modality)."""
        self._ensure_loaded(table)
        keys = [f"{modality}:{item_id}" for item_id in ids for modality in MODALITIES]
        return list(self._client.get(table, ids=keys, output_fields=fields, **self._read(table)))

    def _delete_vectors(self, name: str, ids: Sequence[str], keep: dict[str, set[str]] | None = None) -> None:
        for table, _ in self.spaces(name).values():
            rows = self._rows_of(table, ids, ["pk"])
            stale = [r["pk"] for r in rows if r["pk"] not in (keep or {}).get(table, set())]
            if stale:
                self._delete_rows(table, stale)

    def get(self, name: str, ids: Sequence[str]) -> dict[str, ItemRecord]:
        self.require(name)
        check_item_ids(ids)
        if not ids:
            return {}
        return self._records(name, f"id in {_id_list(ids)}")

    def find(self, name: str, where: str) -> dict[str, ItemRecord]:
        """The items (at most 16,384) whose metadata match a compiled filter expression."""
        self.require(name)
        return self._records(name, where)

    def _records(self, name: str, where: str) -> dict[str, ItemRecord]:
        table = self._items_table(name)
        self._ensure_loaded(table)
        rows = self._client.query(table, filter=where, output_fields=["id", "record"], limit=MAX_QUERY,
                                  **self._read(table))
        found: dict[str, ItemRecord] = {}
        for row in rows:
            record = dict(row["record"])
            found[row["id"]] = ItemRecord(row["id"], record.pop("metadata", {}), record)
        return found

    def list_ids(self, name: str, limit: int, offset: int = 0) -> list[str]:
        self.require(name)
        table = self._items_table(name)
        self._ensure_loaded(table)
        rows = self._client.query(table, filter="", output_fields=["id"], limit=limit, offset=offset,
                                  **self._read(table))
        return [row["id"] for row in rows]

    def iter_ids(self, name: str, batch: int = 1000) -> Iterator[list[str]]:
        """Every item id, a batch at a time (a server-side cursor: no offset limit)."""
        self.require(name)
        table = self._items_table(name)
        self._ensure_loaded(table)
        cursor = self._client.query_iterator(table, batch_size=batch, filter="", output_fields=["id"],
                                             **self._read(table))
        try:
            while rows := cursor.next():
                yield [row["id"] for row in rows]
        finally:
            cursor.close()

    def delete(self, name: str, ids: Sequence[str]) -> int:
        """Delete items and their vectors; the number that existed."""
        existing = list(self.get(name, ids))
        if existing:
            self._delete_vectors(name, existing)
            self._delete_rows(self._items_table(name), existing)
        return len(existing)

    # ---- search ------------------------------------------------------------------------------------

    def search(self, name: str, space: str, vector: np.ndarray, limit: int, where: str = "") -> list[Hit]:
        """Nearest (item, modality) vectors of one space by inner product; [] if the space is not stored."""
        known = self.spaces(name).get(space)
        if known is None or known[1] != vector.shape[0]:
            return []
        table = known[0]
        self._ensure_loaded(table)
        try:
            found = self._client.search(table, data=[np.asarray(vector, dtype=np.float32).tolist()],
                                        limit=min(limit, MAX_QUERY), filter=where, anns_field="vector",
                                        output_fields=["item_id", "modality"],
                                        search_params={"metric_type": "IP"}, **self._read(table))
        except MilvusException:
            if not where:
                raise
            raise InvalidInput("the index cannot evaluate this filter", param="filter",
                               code="invalid_filter") from None
        return [Hit(h["entity"]["item_id"], h["entity"]["modality"], float(h["distance"])) for h in found[0]]

    def vectors(self, name: str, ids: Sequence[str]) -> dict[str, dict[str, dict[str, np.ndarray]]]:
        """item id -> modality -> space -> vector, for every stored vector of the given items."""
        result: dict[str, dict[str, dict[str, np.ndarray]]] = {}
        if not ids:
            return result
        for space, (table, _) in self.spaces(name).items():
            for row in self._rows_of(table, ids, ["item_id", "modality", "vector"]):
                vector = np.asarray(row["vector"], dtype=np.float64)
                result.setdefault(row["item_id"], {}).setdefault(row["modality"], {})[space] = vector
        return result

    def flush(self, name: str) -> None:
        """Seal the collection's recent writes into segments that a server indexes (after a bulk load);
        acknowledged writes are durable without it."""
        for table in [self._items_table(name), *(t for t, _ in self.spaces(name).values())]:
            self._client.flush(table)

    def close(self) -> None:
        """Close the client; for the embedded file, also stop Milvus Lite's in-process server cleanly."""
        self._client.close()
        if self._embedded is not None:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self._embedded)
