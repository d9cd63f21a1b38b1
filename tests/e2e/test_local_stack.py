"""`make run`'s launcher starts every service under honcho and the gateway answers with the printed key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.processes import ROOT, free_port


def test_local_stack_starts_every_service_and_serves_embeddings(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("TEXT", "VISION", "AUDIO", "FUSION", "GATEWAY")}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "FUSION_DATA_DIR": str(tmp_path / "fusion")}
    for name, port in ports.items():
        env[f"{name}_PORT"] = str(port)
    for name in ("TEXT", "VISION", "AUDIO", "FUSION"):
        env[f"GATEWAY_{name}_URL"] = f"http://127.0.0.1:{ports[name]}"
        if name != "FUSION":
            env[f"FUSION_{name}_URL"] = f"http://127.0.0.1:{ports[name]}"
    env["GATEWAY_READY_REQUIRES"] = "text,vision,audio,fusion"
    env_file = tmp_path / "local.env"
    log = (tmp_path / "stack.log").open("wb")
    command = [sys.executable, "scripts/local_stack.py", "--env-file", str(env_file), "--redis-port", str(free_port())]
    stack = subprocess.Popen(command, cwd=ROOT,
                             env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    gateway = f"http://127.0.0.1:{ports['GATEWAY']}"
    try:
        deadline = time.monotonic() + 420
        ready = False
        while time.monotonic() < deadline and stack.poll() is None:
            try:
                ready = requests.get(f"{gateway}/readyz", timeout=3).status_code == 200
            except requests.RequestException:
                ready = False
            if ready:
                break
            time.sleep(1)
        output = (tmp_path / "stack.log").read_text(errors="replace")
        assert ready, f"stack not ready:\n{output[-4000:]}"
        key = next(line.split("=", 1)[1].split(",")[0] for line in env_file.read_text().splitlines()
                   if line.startswith("GATEWAY_API_KEYS="))
        assert f"API key: {key}" in output
        response = requests.post(f"{gateway}/v1/embeddings", headers={"Authorization": f"Bearer {key}"},
                                 json={"model": "all-MiniLM-L6-v2", "input": "hello"}, timeout=30)
        assert response.status_code == 200
        assert len(response.json()["data"][0]["embedding"]) == 384
        models = requests.get(f"{gateway}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
        assert {m["modality"] for m in models["data"]} == {"text", "image", "audio"}
        assert "redis.1" in output and "worker.1" in output, "the local Redis and job worker did not start"
    finally:
        os.killpg(stack.pid, signal.SIGTERM)
        try:
            stack.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
            stack.wait(10)
        log.close()
