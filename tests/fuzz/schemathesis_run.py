"""Schemathesis against a running gateway, as a subprocess of its CLI (``st run``), so that a failure prints
the reproducing request (a curl command) exactly as the CLI does, and the same run serves the test suite and
``make fuzz``.

``python -m tests.fuzz.schemathesis_run [--max-examples N] [--max-time S] [--workers W] [--seed S]`` starts the
whole stack (tests/fuzz/stack.py), fuzzes it and exits with Schemathesis' status.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PHASES = "examples,coverage,fuzzing,stateful"
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
          "negative_data_rejection,positive_data_acceptance")
ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")


@dataclass(frozen=True)
class FuzzResult:
    returncode: int
    output: str

    @property
    def cases(self) -> int:
        """Test cases generated, as the CLI's summary counts them ("N generated")."""
        found = re.findall(r"(\d+) generated", self.output)
        return sum(int(n) for n in found)


def fuzz(url: str, key: str, *, max_examples: int, workers: int = 2, max_time_s: int | None = None,
         seed: int | None = None, report_dir: Path | None = None) -> FuzzResult:
    """One ``st run`` over every operation of ``url/openapi.json`` with every phase and the checks above."""
    command = [str(ST), "--config-file", str(CONFIG), "run", f"{url}/openapi.json", "--phases", PHASES,
               "--checks", CHECKS, "--header", f"Authorization: Bearer {key}", "--max-examples", str(max_examples),
               "--workers", str(workers), "--request-timeout", "120", "--continue-on-failure",
               "--suppress-health-check", "all", "--output-truncate", "false", "--warnings", "off"]
    if max_time_s is not None:
        command += ["--max-time", str(max_time_s)]
    if seed is not None:
        command += ["--seed", str(seed)]
    if report_dir is not None:
        command += ["--report", "junit", "--report-dir", str(report_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return FuzzResult(done.returncode, done.stdout + done.stderr)


def main() -> int:
    from tests.fuzz.stack import fuzz_stack

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=1000)
    parser.add_argument("--max-time", type=int, default=None, help="seconds; fuzzing repeats until spent")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder, fuzz_stack(Path(folder)) as stack:
        result = fuzz(stack.url, stack.key, max_examples=args.max_examples, workers=args.workers,
                      max_time_s=args.max_time, seed=args.seed)
        # flushed at once: the summary must survive whatever happens to this process while the stack stops
        print(result.output, flush=True)
        print(f"fuzz: {result.cases} cases, exit status {result.returncode}", flush=True)
        if result.returncode != 0:
            print(stack.log_tails(), flush=True)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
