"""Fusion benchmarks: parallel fan-out, ingest throughput, search latency at 10k and 100k items.

1. Fan-out: ``POST /v1/fuse`` with text + image + audio beside each single modality alone, on the real offline
   models (text, vision, audio and fusion services as processes). A parallel fan-out costs about the slowest
   modality, not the sum: the script prints both ratios. On a machine with fewer cores than the encoders keep
   busy, the encoders slow each other down whatever the fan-out does; the control for that is the three single
   requests sent at once by the client, which the fused request should match.
2. Ingest: a bulk ingest job of text items, and of photos, through the fusion service (items/s).
3. Search: a collection filled with N items whose vectors are random unit vectors in the MiniLM space (written
   straight into the index by a helper process, since encoding 100k texts would take the CPU an hour), then
   searched by real text queries through the fusion service (text encoding + vector search + exact re-scoring),
   with and without a metadata filter, for each strategy.

Run: ``python bench/bench_fusion.py`` (``--help`` for sizes).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from tests.support.media import photo_b64, speech_data_uri  # noqa: E402
from tests.support.processes import INTERNAL_TOKEN, ServiceProcess, start_service  # noqa: E402

HEADERS = {"X-Internal-Token": INTERNAL_TOKEN}
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
QUERIES = ["a cat on a sofa", "fresh bread", "the train station", "a rocket launch", "jazz music tonight"]


def post(url: str, body: Any, timeout: float = 300) -> requests.Response:
    answer = requests.post(url, json=body, headers=HEADERS, timeout=timeout)
    answer.raise_for_status()
    return answer


def median_ms(call: Callable[[], Any], repeat: int) -> float:
    call()  # warm-up: catalogs, connections, first forward pass
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return 1000 * statistics.median(timings)


def bench_fanout(fusion: ServiceProcess, repeat: int) -> None:
    inputs = {"text": "a cup of coffee on the table", "image": photo_b64("coffee"),
              "audio": speech_data_uri("A cup of coffee on the table.")}
    url = fusion.url + "/v1/fuse"
    single = {m: median_ms(partial(post, url, {"input": {m: inputs[m]}}), repeat) for m in inputs}
    fused = median_ms(partial(post, url, {"input": inputs}), repeat)
    with ThreadPoolExecutor(max_workers=len(inputs)) as pool:
        def together() -> None:
            list(pool.map(lambda m: post(url, {"input": {m: inputs[m]}}), inputs))

        concurrent = median_ms(together, repeat)
    slowest = max(single.values())
    print("\n== fan-out: POST /v1/fuse (intermediate), median of", repeat)
    for modality, ms in single.items():
        print(f"  {modality:<6} alone        {ms:8.1f} ms")
    print(f"  text+image+audio     {fused:8.1f} ms   (one fused request)")
    print(f"  the three singles    {concurrent:8.1f} ms   (sent at once by the client: the encoders' own contention)")
    print(f"  fused / slowest single = {fused / slowest:.2f}   fused / sum of singles = "
          f"{fused / sum(single.values()):.2f}   fused / three singles at once = {fused / concurrent:.2f}")


def run_job(fusion: ServiceProcess, collection: str, items: list[dict[str, Any]]) -> float:
    post(fusion.url + "/v1/collections", {"name": collection})
    started = time.perf_counter()
    job = post(fusion.url + f"/v1/collections/{collection}/ingest", {"items": items}).json()
    while not job["finished"]:
        time.sleep(0.2)
        job = requests.get(fusion.url + f"/v1/collections/{collection}/ingest/{job['id']}", headers=HEADERS,
                           timeout=30).json()
    elapsed = time.perf_counter() - started
    assert job["status"] == "succeeded", job
    return len(items) / elapsed


def bench_ingest(fusion: ServiceProcess, texts: int, photos: int) -> None:
    text_items = [{"id": f"t{i}", "text": f"note {i}: {QUERIES[i % len(QUERIES)]} number {i}",
                   "metadata": {"n": i}} for i in range(texts)]
    names = ("chelsea", "coffee", "astronaut", "rocket")
    photo_items = [{"id": f"p{i}", "image": photo_b64(names[i % len(names)])} for i in range(photos)]
    print("\n== ingest: bulk job through the fusion service")
    print(f"  {texts} text items   {run_job(fusion, 'bench_texts', text_items):8.1f} items/s")
    print(f"  {photos} photos       {run_job(fusion, 'bench_photos', photo_items):8.1f} items/s "
          "(embed + classify + OCR + bridge text, per photo)")


def populate(data_dir: str, count: int) -> None:
    """Helper process: write ``count`` items with random MiniLM-space vectors straight into the index."""
    from services.fusion.store import ItemRecord, MilvusStore, VectorRow

    store = MilvusStore(str(Path(data_dir) / "index.db"))
    store.create_collection("synthetic", f"{count} random vectors")
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for start in range(0, count, 2000):
        ids = [f"s{i}" for i in range(start, min(count, start + 2000))]
        vectors = rng.standard_normal((len(ids), 384))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.upsert("synthetic", [ItemRecord(i, {"shard": int(i[1:]) % 10}, {"text": None}) for i in ids],
                     [VectorRow(i, "text", MINILM, v) for i, v in zip(ids, vectors, strict=True)])
    print(f"  wrote {count} items in {time.perf_counter() - started:.1f} s "
          f"({count / (time.perf_counter() - started):.0f} items/s straight into Milvus Lite)", flush=True)


def searcher(url: str) -> Callable[[str, dict[str, Any] | None], None]:
    """A search call that cycles through the queries (so no answer is served from a warm cache)."""
    counter = iter(range(10**9))

    def search(strategy: str, where: dict[str, Any] | None) -> None:
        query = QUERIES[next(counter) % len(QUERIES)]
        post(url, {"query": {"text": query}, "strategy": strategy, "top_k": 10, "filter": where})

    return search


def bench_search(text: ServiceProcess, sizes: list[int], repeat: int) -> None:
    print("\n== search: POST /v1/collections/{name}/search (top_k=10), median of", repeat)
    for size in sizes:
        folder = tempfile.mkdtemp(prefix=f"fusion-bench-{size}-")
        subprocess.run([sys.executable, __file__, "--populate", folder, str(size)], check=True)
        fusion = start_service("fusion", {"FUSION_DATA_DIR": folder, "FUSION_TEXT_URL": text.url})
        try:
            search = searcher(fusion.url + "/v1/collections/synthetic/search")
            for strategy in ("early", "intermediate", "late"):
                plain = median_ms(partial(search, strategy, None), repeat)
                filtered = median_ms(partial(search, strategy, {"shard": 3}), repeat)
                print(f"  {size:>7} items  {strategy:<12} {plain:8.1f} ms   with filter {filtered:8.1f} ms")
            embed = median_ms(partial(post, text.url + "/v1/embed", {"input": [QUERIES[0]]}), repeat)
            print(f"  {size:>7} items  (of which the text encoding of the query: {embed:.1f} ms)")
        finally:
            fusion.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--texts", type=int, default=300, help="text items of the ingest benchmark")
    parser.add_argument("--photos", type=int, default=24, help="photos of the ingest benchmark")
    parser.add_argument("--sizes", default="10000,100000", help="collection sizes of the search benchmark")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: fanout,ingest,search")
    parser.add_argument("--populate", nargs=2, metavar=("DIR", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.populate:
        populate(args.populate[0], int(args.populate[1]))
        return
    skip = set(filter(None, args.skip.split(",")))
    print("machine:", machine())
    encoders = {name: start_service(name, wait=False) for name in ("text", "vision", "audio")
                if name == "text" or not {"fanout", "ingest"} <= skip}
    for service in encoders.values():
        service.wait_ready(600)
    fusion = start_service("fusion", {"FUSION_DATA_DIR": tempfile.mkdtemp(prefix="fusion-bench-"),
                                      **{f"FUSION_{n.upper()}_URL": s.url for n, s in encoders.items()}})
    try:
        if "fanout" not in skip:
            bench_fanout(fusion, args.repeat)
        if "ingest" not in skip:
            bench_ingest(fusion, args.texts, args.photos)
        fusion.stop()
        if "search" not in skip:
            bench_search(encoders["text"], [int(s) for s in args.sizes.split(",")], args.repeat)
    finally:
        fusion.stop()
        for service in encoders.values():
            service.stop()


if __name__ == "__main__":
    main()
