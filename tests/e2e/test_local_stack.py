"""`make run`'s launcher: every service under supervisord, the gateway answers with the printed key, and a
service killed with SIGKILL is restarted alone while the others keep serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.processes import ROOT, free_port

SUPERVISORCTL = Path(sys.executable).parent / "supervisorctl"


@dataclass
class LocalStack:
    gateway: str
    key: str
    run_dir: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def supervisorctl(self, *args: str) -> str:
        command = [str(SUPERVISORCTL), "-c", str(self.run_dir / "supervisord.conf"), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False).stdout

    def main_pid(self, program: str) -> int:
        """The pid supervisord started for ``program`` (the service's gunicorn master)."""
        return int(self.supervisorctl("pid", program).strip())

    def status(self, path: str) -> int:
        try:
            return requests.get(f"{self.gateway}{path}", timeout=5).status_code
        except requests.RequestException:
            return 0

    def wait_ready(self, timeout_s: float) -> float:
        """Seconds until the gateway's /readyz (every upstream ready) answers 200."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.status("/readyz") == 200:
                return time.monotonic() - started
            time.sleep(0.5)
        raise AssertionError(f"stack not ready after {timeout_s} s:\n{self.output()[-4000:]}")


def stack_environment(tmp_path: Path) -> tuple[dict[str, str], int]:
    ports = {name: free_port() for name in ("TEXT", "VISION", "AUDIO", "FUSION", "GATEWAY")}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "FUSION_DATA_DIR": str(tmp_path / "fusion")}
    for name, port in ports.items():
        env[f"{name}_PORT"] = str(port)
    for name in ("TEXT", "VISION", "AUDIO", "FUSION"):
        env[f"GATEWAY_{name}_URL"] = f"http://127.0.0.1:{ports[name]}"
        if name != "FUSION":
            env[f"FUSION_{name}_URL"] = f"http://127.0.0.1:{ports[name]}"
    env["GATEWAY_READY_REQUIRES"] = "text,vision,audio,fusion"
    return env, ports["GATEWAY"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    tmp_path = tmp_path_factory.mktemp("local-stack")
    env, gateway_port = stack_environment(tmp_path)
    env_file = tmp_path / "run" / "local.env"
    log_path = tmp_path / "stack.log"
    command = [sys.executable, "scripts/local_stack.py", "--env-file", str(env_file), "--redis-port", str(free_port())]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while not env_file.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            key = next(line.split("=", 1)[1].split(",")[0] for line in env_file.read_text().splitlines()
                       if line.startswith("GATEWAY_API_KEYS="))
            local = LocalStack(f"http://127.0.0.1:{gateway_port}", key, env_file.parent, log_path)
            local.wait_ready(420)
            yield local
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def embed(stack: LocalStack, text: str) -> requests.Response:
    return requests.post(f"{stack.gateway}/v1/embeddings", headers={"Authorization": f"Bearer {stack.key}"},
                         json={"model": "all-MiniLM-L6-v2", "input": text}, timeout=30)


def test_local_stack_starts_every_service_and_serves_embeddings(stack: LocalStack) -> None:
    output = stack.output()
    assert f"API key: {stack.key}" in output
    response = embed(stack, "hello")
    assert response.status_code == 200
    assert len(response.json()["data"][0]["embedding"]) == 384
    models = requests.get(f"{stack.gateway}/v1/models", headers={"Authorization": f"Bearer {stack.key}"},
                          timeout=30).json()
    assert {m["modality"] for m in models["data"]} == {"text", "image", "audio"}
    status = stack.supervisorctl("status")
    for program in ("text", "vision", "audio", "fusion", "gateway", "redis", "worker"):
        assert f"{program} " in status and "RUNNING" in status.split(f"{program} ", 1)[1].splitlines()[0], status


def test_a_killed_service_is_restarted_alone_and_readiness_says_when_it_is_back(stack: LocalStack) -> None:
    others = {name: stack.main_pid(name) for name in ("text", "vision", "fusion", "gateway")}
    audio_pid = stack.main_pid("audio")
    os.kill(audio_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    answers: list[int] = []
    not_ready_seen = False
    while time.monotonic() - killed_at < 300:
        answers.append(embed(stack, f"still here {len(answers)}").status_code)
        not_ready_seen = not_ready_seen or stack.status("/readyz") == 503
        if not_ready_seen and stack.status("/readyz") == 200:
            break
        time.sleep(0.3)
    back_after = time.monotonic() - killed_at
    assert not_ready_seen, "the gateway's readiness never reported the audio service missing"
    assert stack.status("/readyz") == 200, f"audio not back:\n{stack.output()[-4000:]}"
    assert stack.main_pid("audio") not in (0, audio_pid)
    assert answers and set(answers) == {200}, f"text requests failed while audio was down: {answers}"
    assert {name: stack.main_pid(name) for name in others} == others, "another service was restarted"
    print(f"audio killed with SIGKILL: ready again after {back_after:.1f} s; {len(answers)} text requests, all 200")
