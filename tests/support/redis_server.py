"""A real redis-server for the gateway's tests, started on a free loopback port (no persistence)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.support.processes import free_port

INSTALL_HINT = "redis-server is missing: run `make system-deps` (apt-get install redis-server)"


@contextmanager
def redis_server() -> Iterator[str]:
    """Yield ``redis://127.0.0.1:<port>`` of a fresh server; stop it afterwards. Fails loudly without the binary."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(INSTALL_HINT)
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir, "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        _wait_ping(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(Path(workdir), ignore_errors=True)


def _wait_ping(url: str, process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    client = redis.Redis.from_url(url)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}")
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise TimeoutError("redis-server did not answer PING")
