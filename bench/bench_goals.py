"""Every figure of the performance goals in one run (``make bench-peer``): polyserve beside infinity, the gateway
beside the best in-process pipeline, and overload.

1. **Peer comparison** (``bench_peer.py``): infinity with its torch engine (float32, its CPU default, and
   bfloat16, ``--dtype bfloat16``) and its ONNX (``optimum``) engine, polyserve with its default backend (bfloat16
   products where the CPU has them) and its ONNX Runtime backend, on 1 input x 1 client, 1 input x 32 clients and
   32 inputs x 32 clients; two tables: defaults against defaults (infinity torch, polyserve as ``make run`` starts
   it), and best against best (each server's fastest engine or backend per load).
2. **Gateway vs in-process**: all-MiniLM-L6-v2 (the text service's own backend in the bench process, at the same
   precision the service uses, fed the same sentences' token lists sorted by length, at its best batch size) beside
   the gateway (32 inputs per request, ``encoding_format=base64``); EfficientNet-Lite0 (the vision backend at its
   best batch size, fed decoded images, and fed the JPEG files themselves, decoded as the service decodes them)
   beside the gateway (8 JPEG data URIs per request). The pipelines are measured again before each gateway round; a
   ratio is the best gateway rate over the best pipeline rate.
3. **Overload** (polyserve, and infinity's torch engine for contrast): capacity, then 3x and 10x that rate.

Run: ``bench/install_peer.sh && HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_goals.py --seconds 8 --rounds 2``
(about 12 minutes on 2 cores; ``--help`` for the options, those of ``bench_peer.py`` included).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_peer import (  # noqa: E402
    LOADS,
    Server,
    build_parser,
    compare,
    median_of,
    overload,
    overload_wanted,
    print_overload_table,
    print_table,
    read_corpus,
    servers_up,
    warm,
)
from bench.bench_vision import InProcess, gateway_runs, photo_jpegs  # noqa: E402
from bench.common import machine  # noqa: E402
from bench.loadgen import LoadResult, closed_loop  # noqa: E402
from tests.support.processes import start_service  # noqa: E402

Results = dict[str, dict[str, list[LoadResult]]]


def print_best_vs_best(results: Results, loads: list[str]) -> None:
    """Per load, the fastest infinity engine beside the fastest polyserve backend (medians of the rounds)."""
    print("\n| load | infinity best | polyserve best | polyserve best / infinity best |\n|---|---|---|---|")
    for load in loads:
        best = {}
        for server in ("infinity", "polyserve"):
            rates = {label: median_of(runs[load], "rate") for label, runs in results.items()
                     if label.startswith(server)}
            best[server] = max(rates.items(), key=lambda kv: kv[1]) if rates else ("-", float("nan"))
        inputs, clients = LOADS[load]
        print(f"| {inputs} input x {clients} clients | {best['infinity'][1]:.0f} items/s ({best['infinity'][0]}) | "
              f"{best['polyserve'][1]:.0f} items/s ({best['polyserve'][0]}) | "
              f"**{best['polyserve'][1] / best['infinity'][1]:.2f}** |")


class TextInProcess:
    """The text service's backend in this process, at the service's default precision, on length-sorted batches
    of the bench's sentences (how sentence-transformers' ``encode`` batches, and the least padding)."""

    def __init__(self, corpus: list[str]) -> None:
        from servekit.device import resolve_placement
        from services.text.backends.sentence import SentenceEmbedder
        from services.text.settings import MINILM, TextSettings

        self.backend = SentenceEmbedder(MINILM, resolve_placement("cpu", cpu_bf16=TextSettings().cpu_bf16))
        self.backend.load()
        self.backend.warmup()
        self.items = sorted(self.backend.prepare("embed", list(corpus)), key=lambda item: len(item["input_ids"]))

    def rate(self, size: int, seconds: float) -> float:
        batches = [self.items[start:start + size] for start in range(0, len(self.items), size)]
        done, started, index = 0, time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            batch = batches[index % len(batches)]
            self.backend.predict("embed", batch)
            done, index = done + len(batch), index + 1
        return done / (time.perf_counter() - started)


def best_batch(name: str, rate: Callable[[int, float], float], sizes: tuple[int, ...], seconds: float) -> int:
    rates = {size: rate(size, seconds) for size in sizes}
    print(f"{name}: " + ", ".join(f"batch {s}: {r:.1f} items/s" for s, r in rates.items()), flush=True)
    return max(rates, key=lambda size: rates[size])


def gateway_vs_in_process(name: str, pipelines: dict[str, Callable[[], float]], measure_gateway: Callable[[], float],
                          rounds: int) -> dict[str, float]:
    """Each round, every in-process pipeline again and then the gateway; per pipeline, best gateway over best
    pipeline rate."""
    ceilings: dict[str, list[float]] = {label: [] for label in pipelines}
    served = []
    for round_index in range(rounds):
        for label, pipeline in pipelines.items():
            ceilings[label].append(pipeline())
        served.append(measure_gateway())
        print(f"{name}: round {round_index + 1}: in-process " + ", ".join(
            f"{label} {rates[-1]:.1f}" for label, rates in ceilings.items()) + f" items/s; gateway {served[-1]:.1f} "
            f"items/s  load {os.getloadavg()[0]:.1f}", flush=True)
    ratios = {label: max(served) / max(rates) for label, rates in ceilings.items()}
    for label, rates in ceilings.items():
        print(f"{name}: gateway / in-process ({label}) = {max(served):.1f} / {max(rates):.1f} = "
              f"{ratios[label]:.2f}", flush=True)
    return ratios


def text_ratios(server: Server, corpus: list[str], args: argparse.Namespace) -> dict[str, float]:
    pipeline = TextInProcess(corpus)
    size = best_batch("text in-process", pipeline.rate, (32, 64, 128), args.seconds)
    sender = server.sender(corpus, 32, "base64")

    def gateway() -> float:
        return max(closed_loop(sender.send, clients, args.seconds).items_per_s for clients in (8, 16))

    return gateway_vs_in_process("text (all-MiniLM-L6-v2)",
                                 {f"token lists, batch {size}": lambda: pipeline.rate(size, args.seconds)},
                                 gateway, args.rounds)


def image_ratios(args: argparse.Namespace) -> dict[str, float]:
    """Two in-process pipelines: from decoded images (bench_vision's ceiling), and from the same JPEG files the
    clients send, decoded as the service decodes them."""
    from services.vision.settings import EFFICIENTNET_LITE0

    jpegs = photo_jpegs()
    pipeline = InProcess(EFFICIENTNET_LITE0, jpegs)
    size = best_batch("image in-process (decoded images)", pipeline.rate, (4, 8, 16), args.seconds)
    spec = EFFICIENTNET_LITE0.model_dump(exclude_none=True)
    served = [{**spec, "options": {**spec.get("options", {}), "max_batch_size": size}}]
    vision = start_service("vision", {"VISION_MODELS": json.dumps(served), "VISION_THREADS": "32"})
    gateway = start_service("gateway", {"GATEWAY_API_KEYS": "sk-bench", "GATEWAY_VISION_URL": vision.url,
                                        "GATEWAY_READY_REQUIRES": "vision", "GATEWAY_CACHE_ENABLED": "false",
                                        "GATEWAY_RATE_LIMITS_ENABLED": "false"})
    try:
        return gateway_vs_in_process(
            "image (EfficientNet-Lite0)",
            {f"decoded images, batch {size}": lambda: pipeline.rate(size, args.seconds),
             f"JPEG files, batch {size}": lambda: pipeline.rate(size, args.seconds, decode=True)},
            lambda: gateway_runs(gateway.url, EFFICIENTNET_LITE0.name, jpegs, 8, [4, 8], args.seconds), args.rounds)
    finally:
        gateway.stop()
        vision.stop()


def main() -> None:
    parser = build_parser(__doc__)
    parser.add_argument("--skip-image", action="store_true", help="leave out the image gateway/in-process ratio")
    parser.set_defaults(seconds=8.0, infinity_engines="torch,optimum,torch:bfloat16", polyserve_onnx=True,
                        overload=True, overload_servers="polyserve,infinity (torch)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # the services' own policy, for the in-process runs too
    started = time.monotonic()
    corpus = read_corpus()
    loads = [load for load in args.loads.split(",") if load]
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; {len(corpus)} sentences; "
          f"{args.seconds:g} s per level, {args.rounds} rounds", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-goals-") as tmp, servers_up(args, Path(tmp)) as servers:
        for server in servers:
            warm(server, corpus, args.encoding)
        results = compare(servers, corpus, loads, args.rounds, args.seconds, args.encoding)
        polyserve = next(server for server in servers if server.label == "polyserve")
        text = text_ratios(polyserve, corpus, args)
        rows = [row for server in overload_wanted(args, servers)
                for row in overload(server, corpus, args.seconds, args.capacity_clients,
                                    [float(f) for f in args.factors.split(",")], args.deadline_ms or None)]
    image = {} if args.skip_image else image_ratios(args)

    print(f"\n## Results ({args.seconds:g} s per level, {args.rounds} rounds, medians; load average now "
          f"{os.getloadavg()[0]:.1f}; {(time.monotonic() - started) / 60:.1f} min)")
    defaults: Results = {label: results[label] for label in ("infinity (torch)", "polyserve") if label in results}
    print("\n### Peer comparison, defaults (polyserve / infinity)")
    print_table(defaults, loads, next(iter(defaults)))
    print("\n### Peer comparison, best against best")
    print_best_vs_best(results, loads)
    print("\n### Every server")
    print_table(results, loads, next(iter(results)))
    print("\n### Gateway vs the best in-process pipeline (goal >= 0.95)\n\n| model | in-process pipeline | "
          "gateway / in-process |\n|---|---|---|")
    for model, ratios in (("all-MiniLM-L6-v2 (text)", text), ("EfficientNet-Lite0 (image)", image)):
        for label, ratio in ratios.items():
            print(f"| {model} | {label} | **{ratio:.2f}** |")
    print("\n### Overload (goals: goodput >= 0.90 of capacity, accepted p99 <= 2x, excess refused at once with "
          "Retry-After, none answered past its deadline)")
    print_overload_table(rows)


if __name__ == "__main__":
    main()
