"""Text-embedding throughput and latency through the gateway, beside the same model in-process.

The in-process ceiling runs the service's own backend (same tokenizer, model and pooling) on batches of each
size and keeps the best items/s. The gateway path starts the real text service and gateway as processes and drives
``POST /v1/embeddings`` with closed-loop clients at several concurrency levels. Run: ``python bench/bench_text.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, sweep_concurrency  # noqa: E402
from tests.support.processes import start_service  # noqa: E402

KEY = "sk-bench"
SUBJECTS = ["The quick brown fox", "A distributed database", "My grandmother's recipe", "The orchestra",
            "An unexpected storm", "The new transit line", "A small startup", "The museum's collection"]
PREDICATES = ["jumps over the lazy dog near the river bank", "replicates writes across three regions",
              "calls for two cups of flour and a pinch of salt", "rehearsed the symphony until late at night",
              "closed every road along the northern coast", "cut the commute between the two suburbs in half",
              "raised its first round of funding last spring", "opened a new wing for modern sculpture"]
CORPUS = [f"{s} {p}." for s in SUBJECTS for p in PREDICATES]  # 64 sentences of 10-16 tokens


def in_process_ceiling(batch_sizes: list[int], seconds: float) -> dict[int, float]:
    from servekit.device import resolve_placement
    from services.text.backends.sentence import SentenceEmbedder
    from services.text.settings import MINILM

    backend = SentenceEmbedder(MINILM, resolve_placement("cpu"))
    backend.load()
    backend.warmup()
    results = {}
    for size in batch_sizes:
        batch = [CORPUS[i % len(CORPUS)] for i in range(size)]
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            backend.predict("embed", batch)
            done += size
        results[size] = done / (time.perf_counter() - started)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each measurement")
    parser.add_argument("--request-size", type=int, default=32, help="texts per gateway request")
    parser.add_argument("--concurrency", default="1,4,8,16", help="comma-separated client counts")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    print(f"machine: {machine()}")
    ceiling = in_process_ceiling([1, 8, 16, 32, 64, 128], args.seconds)
    for size, rate in ceiling.items():
        print(f"in-process  batch={size:<4d} {rate:8.1f} items/s")
    best_size, best_rate = max(ceiling.items(), key=lambda kv: kv[1])
    print(f"in-process ceiling: {best_rate:.1f} items/s at batch {best_size}")

    text = start_service("text", {"TEXT_THREADS": "32", "TEXT_MAX_BATCH_SIZE": str(best_size)})
    # The result cache is off: this measures the model path, not repeated answers.
    gateway = start_service("gateway", {"GATEWAY_API_KEYS": KEY, "GATEWAY_TEXT_URL": text.url,
                                        "GATEWAY_CACHE_ENABLED": "false",
                                        "GATEWAY_EMBEDDING_CHUNK_SIZE": str(args.request_size)})
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=64)
    session.mount("http://", adapter)
    url = f"{gateway.url}/v1/embeddings"
    headers = {"Authorization": f"Bearer {KEY}"}
    offset = {"i": 0}

    def send() -> int:
        start = offset["i"] = (offset["i"] + args.request_size) % len(CORPUS)
        batch = [CORPUS[(start + k) % len(CORPUS)] for k in range(args.request_size)]
        response = session.post(url, headers=headers, timeout=60,
                                json={"model": "all-MiniLM-L6-v2", "input": batch, "encoding_format": "base64"})
        return len(response.json()["data"]) if response.status_code == 200 else 0

    try:
        levels = [int(c) for c in args.concurrency.split(",")]
        best_gateway = sweep_concurrency(send, levels, args.seconds, unit="texts", request_size=args.request_size)
        print(f"gateway at saturation / in-process ceiling: {best_gateway:.1f} / {best_rate:.1f} = "
              f"{best_gateway / best_rate:.2f}")
    finally:
        gateway.stop()
        text.stop()


if __name__ == "__main__":
    main()
