"""Chat through the gateway: tokens per second and time to first token, one client and concurrent, streamed vs not.

Model: SmolVLM-256M's architecture (Idefics3: SigLIP 12 x 768 at 512 px, a 30-layer 576-wide Llama, 64 image tokens)
with random weights, built from its config and saved to a temporary folder (the same compute per token as the
real checkpoint, apart from its 49k-token output layer: the bench tokenizer is byte-level; image splitting is off,
so one 512-px tile per image). The vision service and the gateway run as processes (``servekit.serve``, as
``make run`` does); each request asks about one JPEG photo with ``temperature`` 0 and ``max_tokens`` N (random
weights never end early, so every answer has N tokens). Streamed answers report the time to the first content
chunk; a whole answer's first token arrives with its last. Run: ``python bench/bench_chat.py``.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from tests.support.processes import start_service  # noqa: E402

KEY = "sk-bench"
MODEL = "smolvlm-256m-random"
SMOLVLM_256M_TEXT = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
                     "num_attention_heads": 9, "num_key_value_heads": 3, "max_position_embeddings": 8192,
                     "rope_theta": 100000.0}
SMOLVLM_256M_VISION = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
                       "num_attention_heads": 12, "image_size": 512, "patch_size": 16}


def build_model(folder: Path) -> Path:
    from tests.support.tiny_vlms import idefics3_dir

    return idefics3_dir(folder, SMOLVLM_256M_TEXT, SMOLVLM_256M_VISION, scale_factor=4, image_side=512,
                        image_seq_len=64, splitting=False)


def photo_uri() -> str:
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.chelsea()).convert("RGB").save(buffer, "JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def ask(url: str, body: dict[str, Any]) -> tuple[float, float, int]:
    """(time to first token, total time, completion tokens) of one request."""
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {KEY}"}
    if not body.get("stream"):
        answer = requests.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=600)
        answer.raise_for_status()
        total = time.perf_counter() - started
        return total, total, int(answer.json()["usage"]["completion_tokens"])
    first, tokens = 0.0, 0
    with requests.post(f"{url}/v1/chat/completions", json=body, headers=headers, stream=True, timeout=600) as answer:
        answer.raise_for_status()
        for line in answer.iter_lines():
            payload = line.decode().removeprefix("data: ")
            if not payload or payload == "[DONE]":
                continue
            chunk = json.loads(payload)
            if chunk.get("usage"):
                tokens = int(chunk["usage"]["completion_tokens"])
            if chunk["choices"] and chunk["choices"][0]["delta"].get("content") and not first:
                first = time.perf_counter() - started
    return first, time.perf_counter() - started, tokens


def scenario(url: str, body: dict[str, Any], clients: int, rounds: int) -> dict[str, float]:
    """``clients`` requests in flight at a time, ``clients * rounds`` in all."""
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda _: ask(url, body), range(clients * rounds)))
    wall = time.perf_counter() - started
    tokens = sum(r[2] for r in results)
    return {"tokens_per_s": tokens / wall, "ttft_s": statistics.median(r[0] for r in results),
            "latency_s": statistics.median(r[1] for r in results),
            "per_request_tokens_per_s": statistics.median(r[2] / r[1] for r in results), "requests": len(results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="requests per client per scenario")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients of the concurrent scenarios")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
        folder = build_model(Path(tmp) / MODEL)
        served = [{"name": MODEL, "backend": "image-text-to-text", "source": str(folder)}]
        vision = start_service("vision", {"VISION_MODELS": json.dumps(served), "VISION_THREADS": "16",
                                          "VISION_MAX_WAIT_MS": "50", "VISION_REQUEST_TIMEOUT_S": "600",
                                          "VISION_MAX_CONCURRENT_GENERATIONS": "16"})
        gateway = start_service("gateway", {"GATEWAY_API_KEYS": KEY, "GATEWAY_VISION_URL": vision.url,
                                            "GATEWAY_CACHE_ENABLED": "false", "GATEWAY_RATE_LIMITS_ENABLED": "false",
                                            "GATEWAY_REQUEST_TIMEOUT_S": "600", "GATEWAY_READY_REQUIRES": "vision"})
        try:
            body = {"model": MODEL, "temperature": 0, "max_tokens": args.max_tokens,
                    "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": photo_uri()}},
                                                              {"type": "text", "text": "Describe this picture."}]}]}
            ask(gateway.url, {**body, "max_tokens": 2})  # warm the connections
            print("| answer | clients | tokens/s (all clients) | time to first token (p50) | latency (p50) | "
                  "tokens/s per request (p50) | requests |\n| --- | --- | --- | --- | --- | --- | --- |", flush=True)
            for clients in (1, args.clients):  # whole and streamed side by side, under the same machine load
                for stream in (False, True):
                    streaming = {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
                    figures = scenario(gateway.url, {**body, **streaming}, clients, args.rounds)
                    print(f"| {'streamed' if stream else 'whole'} | {clients} | {figures['tokens_per_s']:.1f} | "
                          f"{figures['ttft_s']:.2f} s | {figures['latency_s']:.2f} s | "
                          f"{figures['per_request_tokens_per_s']:.1f} | {figures['requests']:.0f} |", flush=True)
        finally:
            gateway.stop()
            vision.stop()


if __name__ == "__main__":
    main()
