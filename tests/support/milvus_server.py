"""A real Milvus standalone server (PyPI ``milvus``, embedded etcd and storage) for the tests of the server path.

It runs from its own virtual environment (``make milvus-server`` builds ``.venv-milvus``; ``MILVUS_SERVER_PYTHON``
names another interpreter), in its own process group on loopback ports picked free, with its data in a temporary
folder; stopping it ends the whole group.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("milvus_launcher.py")
INSTALL_HINT = "the Milvus server is missing: run `make milvus-server` (a venv with PyPI's milvus==2.3.5)"


def server_python() -> Path:
    return Path(os.environ.get("MILVUS_SERVER_PYTHON") or ROOT / ".venv-milvus" / "bin" / "python")


@contextmanager
def milvus_server(timeout_s: float = 240.0) -> Iterator[str]:
    """Yield ``http://127.0.0.1:<port>`` of a fresh server; stop it and delete its data afterwards."""
    python = server_python()
    if not python.is_file():
        raise RuntimeError(INSTALL_HINT)
    workdir = Path(tempfile.mkdtemp(prefix="milvus-server-"))
    port_file = workdir / "port"
    log = (workdir / "launcher.log").open("wb")
    process = subprocess.Popen([str(python), str(LAUNCHER), str(workdir / "data"), str(port_file)],
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield f"http://127.0.0.1:{_wait_port(process, port_file, timeout_s, workdir)}"
    finally:
        _stop_group(process)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_port(process: subprocess.Popen[bytes], port_file: Path, timeout_s: float, workdir: Path) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Milvus server exited with {process.returncode}:\n{_log_tail(workdir)}")
        text = port_file.read_text().strip() if port_file.is_file() else ""
        if text.isdigit():
            return int(text)
        time.sleep(0.5)
    raise TimeoutError(f"the Milvus server did not start within {timeout_s}s")


def _log_tail(workdir: Path, lines: int = 30) -> str:
    """The end of the launcher's and the server's logs, for a start that failed."""
    tails = []
    for path in [workdir / "launcher.log", *sorted((workdir / "data" / "logs").glob("milvus-std*.log"))]:
        if path.is_file():
            tails.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
    return "\n".join(tails)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the launcher's group (launcher and server); then SIGKILL to whatever of it is left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait(10)


def drop_everything(uri: str) -> None:
    """Empty the server between tests: every collection goes."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri)
    try:
        for table in client.list_collections():
            client.drop_collection(table)
    finally:
        client.close()
