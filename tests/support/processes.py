"""Start real services as processes on loopback ports, the way `make run` does, for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from servekit.catalog import SERVICES

ROOT = Path(__file__).resolve().parents[2]
INTERNAL_TOKEN = "e2e-internal-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dead_url() -> str:
    """A loopback URL where nothing listens: calls to it fail at once."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} not ready after {timeout_s}s:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout_s)

    def kill(self) -> None:
        """Die hard, as a crashed encoder would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(20)

    def kill_tree(self) -> None:
        """Die hard with every child (gunicorn's workers too, which would otherwise finish their work for a
        while), as a machine that loses power would."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)
        self.kill()


def start_service(name: str, env: dict[str, str] | None = None, *, port: int | None = None,
                  wait: bool = True, ready_timeout_s: float = 300.0) -> ServiceProcess:
    """``python -m servekit.serve NAME`` on a free loopback port with the given environment."""
    prefix = SERVICES[name].env_prefix
    port = port or free_port()
    full_env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "POLYSERVE_INTERNAL_TOKEN": INTERNAL_TOKEN,
        f"{prefix}HOST": "127.0.0.1",
        f"{prefix}PORT": str(port),
        **(env or {}),
    }
    log_file = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "servekit.serve", name], cwd=ROOT, env=full_env,
        stdout=log_file, stderr=subprocess.STDOUT,
    )
    service = ServiceProcess(name, port, process, Path(log_file.name), full_env)
    if wait:
        try:
            service.wait_ready(ready_timeout_s)
        except BaseException:
            service.stop()
            raise
    return service
