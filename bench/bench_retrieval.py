"""Retrieval at scale on both index backends: the embedded Milvus Lite file and a real Milvus server.

For each backend and size, a collection of N items with random unit vectors in the MiniLM space (384-d) and
metadata (``kind``: one of 10 values, ``year``: 2000-2024) is written through the fusion store
(``services/fusion/store.py``, the code the service runs), in batches of 1000 as bulk ingest does. Then:
- ingest rate (items/s, vectors and records, the store's stale-vector check included);
- search latency: one vector search of top 40 (top_k 10 x the candidate factor 4), no filter;
- filtered search latency, the filter on JSON metadata (``meta["kind"] == ...``, parsed per row) and the same
  filter on the collection's indexed keys (typed columns under a scalar index, see ``indexed`` collections).
Medians over distinct random queries (the JSON-filtered search: fewer, ``--json-repeat``). The server is PyPI's
``milvus`` 2.3.5 standalone (embedded etcd, local storage) on this machine, started like the tests start it
(``make milvus-server`` installs it).

Run: ``python bench/bench_retrieval.py`` (``--help`` for sizes and backends).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from services.fusion.filters import compile_filter  # noqa: E402
from services.fusion.store import ItemRecord, MilvusStore, VectorRow  # noqa: E402
from tests.support.milvus_server import milvus_server  # noqa: E402

SPACE = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384
BATCH = 1000
WHERE: dict[str, Any] = {"kind": "k3", "year": {"$gte": 2010}}  # about 6 % of the items


def _unit_rows(rng: np.random.Generator, count: int) -> np.ndarray:
    vectors = rng.standard_normal((count, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def ingest(store: MilvusStore, name: str, count: int) -> float:
    """Write ``count`` items; items/s."""
    store.create_collection(name, f"{count} random vectors", indexed={"kind": "string", "year": "int"})
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for start in range(0, count, BATCH):
        ids = [f"s{i}" for i in range(start, min(count, start + BATCH))]
        vectors = _unit_rows(rng, len(ids))
        records = [ItemRecord(i, {"kind": f"k{int(i[1:]) % 10}", "year": 2000 + int(i[1:]) % 25}, {})
                   for i in ids]
        store.upsert(name, records, [VectorRow(i, "text", SPACE, v) for i, v in zip(ids, vectors, strict=True)])
    store.flush(name)
    return count / (time.perf_counter() - started)


def median_ms(store: MilvusStore, name: str, where: str, repeat: int) -> float:
    """Median latency of ``store.search`` (top 40) over distinct random queries."""
    rng = np.random.default_rng(1)
    store.search(name, SPACE, _unit_rows(rng, 1)[0], 40, where)  # warm: load, caches
    times = []
    for vector in _unit_rows(rng, repeat):
        started = time.perf_counter()
        store.search(name, SPACE, vector, 40, where)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bench_backend(label: str, uri: str, sizes: list[int], repeat: int, json_repeat: int) -> None:
    store = MilvusStore(uri)
    try:
        for size in sizes:
            name = f"bench_{size}"
            if store.exists(name):
                store.drop_collection(name)
            rate = ingest(store, name, size)
            json_filter = compile_filter(WHERE)
            typed_filter = compile_filter(WHERE, indexed=store.indexed(name))
            hits = len(store.search(name, SPACE, _unit_rows(np.random.default_rng(2), 1)[0], 40, typed_filter))
            plain = median_ms(store, name, "", repeat)
            by_json = median_ms(store, name, json_filter, min(repeat, json_repeat))
            by_index = median_ms(store, name, typed_filter, repeat)
            print(f"  {label:<7} {size:>8} items  ingest {rate:8.0f} items/s   search {plain:7.1f} ms   "
                  f"filtered: JSON {by_json:7.1f} ms, indexed {by_index:7.1f} ms  ({hits} hits)", flush=True)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="collection sizes")
    parser.add_argument("--backends", default="lite,server", help="lite, server, or both")
    parser.add_argument("--server-uri", default="", help="an existing Milvus server instead of starting one")
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--json-repeat", type=int, default=5,
                        help="repeats of the JSON-filtered search (seconds each on Milvus Lite at 100k)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print("machine:", machine())
    print(f"== store-level retrieval, top 40 of 384-d vectors, filter {WHERE}, median of {args.repeat}")
    with ExitStack() as stack:
        for backend in args.backends.split(","):
            if backend == "lite":
                folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-lite-"))
                bench_backend("lite", str(Path(folder) / "index.db"), sizes, args.repeat, args.json_repeat)
            elif backend == "server":
                uri = args.server_uri or stack.enter_context(milvus_server())
                bench_backend("server", uri, sizes, args.repeat, args.json_repeat)


if __name__ == "__main__":
    main()
