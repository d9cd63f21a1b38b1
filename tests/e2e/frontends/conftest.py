"""The whole stack as a user meets it, for the client, the CLI and the browser tests: every encoder with its real
offline models, fusion, Redis with a job worker, and the gateway, each a real process on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.media import espeak_wav, photo_png
from tests.support.processes import INTERNAL_TOKEN, ServiceProcess, start_service
from tests.support.redis_server import redis_server
from tests.support.workers import WorkerProcess, start_worker

API_KEY = "sk-frontends-key"
SENTENCE = "The quick brown fox jumps over the lazy dog."


@dataclass
class UserStack:
    url: str
    api_key: str
    services: list[ServiceProcess]
    worker: WorkerProcess

    def logs(self) -> str:
        return "\n".join(f"--- {s.name}\n{s.log_tail(30)}" for s in self.services)


def _start(tmp: Path, redis_url: str) -> tuple[list[ServiceProcess], WorkerProcess]:
    encoders = {name: start_service(name, {f"{name.upper()}_THREADS": "2"}, wait=False)
                for name in ("text", "vision", "audio")}
    for service in encoders.values():
        service.wait_ready(400)
    fusion = start_service("fusion", {
        "FUSION_DATA_DIR": str(tmp / "fusion"), "FUSION_REQUEST_TIMEOUT_S": "120",
        **{f"FUSION_{name.upper()}_URL": service.url for name, service in encoders.items()}})
    env = {"GATEWAY_API_KEYS": API_KEY, "GATEWAY_FUSION_URL": fusion.url, "GATEWAY_REDIS_URL": redis_url,
           **{f"GATEWAY_{name.upper()}_URL": service.url for name, service in encoders.items()}}
    worker = start_worker({**env, "POLYSERVE_INTERNAL_TOKEN": INTERNAL_TOKEN})
    gateway = start_service("gateway", env)
    return [gateway, fusion, *encoders.values()], worker


@pytest.fixture(scope="session")
def user_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserStack]:
    with redis_server() as redis_url:
        services, worker = _start(tmp_path_factory.mktemp("user-stack"), redis_url)
        try:
            yield UserStack(services[0].url, API_KEY, services, worker)
        finally:
            worker.stop()
            for service in services:
                service.stop()


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real files on disk: scikit-image photos, an espeak-ng sentence, a text note and a broken image."""
    folder = tmp_path_factory.mktemp("media")
    photos = folder / "photos"
    photos.mkdir()
    for name in ("chelsea", "coffee", "rocket", "astronaut"):
        (photos / f"{name}.png").write_bytes(photo_png(name))
    (folder / "speech.wav").write_bytes(espeak_wav(SENTENCE))
    (folder / "broken.png").write_bytes(b"this is not a PNG image at all")
    return folder
