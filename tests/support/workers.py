"""Start ``python -m gateway.worker`` as a real process for job tests."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import ROOT


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def horse_pids(self) -> list[int]:
        """The work-horses rq forked for the jobs running now."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_worker(env: dict[str, str], *, ready_timeout_s: float = 60.0) -> WorkerProcess:
    """Start a worker and wait until it listens on its queue."""
    log_file = tempfile.NamedTemporaryFile(prefix="worker-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "-m", "gateway.worker"], cwd=ROOT, stdout=log_file,
                               stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", **env})
    worker = WorkerProcess(process, Path(log_file.name))
    deadline = time.monotonic() + ready_timeout_s
    while "Listening on" not in worker.log():
        if process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError(f"the worker did not start:\n{worker.log()[-3000:]}")
        time.sleep(0.2)
    return worker
