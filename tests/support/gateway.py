"""A gateway in front of services, written once for every test that needs one.

Real processes (end-to-end tests): :func:`gateway_over` starts the named services, then a gateway pointed at
them with its API keys (and, for jobs, Redis and a job worker), and stops everything afterwards.
In-process (service tests): :func:`gateway_settings` points a gateway at the given upstream URLs and every
other upstream at a dead loopback port, so that no stray local service on a default port answers instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from gateway.settings import GatewaySettings
from servekit.catalog import UPSTREAMS
from tests.support.processes import INTERNAL_TOKEN, ServiceProcess, dead_url, start_service
from tests.support.redis_server import redis_server
from tests.support.workers import WorkerProcess, start_worker


# -- in-process gateways ---------------------------------------------------------------------------------
def upstream_urls(upstreams: Mapping[str, str]) -> dict[str, str]:
    """GatewaySettings' ``<name>_url`` fields: the given URLs, a dead URL for every other upstream."""
    return {f"{name}_url": upstreams.get(name) or dead_url() for name in UPSTREAMS}


def gateway_settings(upstreams: Mapping[str, str], *, api_keys: str, **extra: Any) -> GatewaySettings:
    """Settings for a gateway in front of ``upstreams`` (name -> base URL) with ``api_keys``."""
    return GatewaySettings(api_keys=api_keys, **{**upstream_urls(upstreams), **extra})


# -- gateways as real processes --------------------------------------------------------------------------
@dataclass
class GatewayStack:
    """Running services, the gateway in front of them and, with jobs, the job worker."""

    services: dict[str, ServiceProcess]
    gateway: ServiceProcess
    env: dict[str, str]
    worker: WorkerProcess | None = None
    gateway_logs: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.gateway.url

    def restart_gateway(self) -> None:
        """Stop the gateway (its log kept in ``gateway_logs``) and start it again on the same port."""
        self.gateway_logs.append(self.gateway.log_path.read_text(errors="replace"))
        self.gateway.stop()
        self.gateway = start_service("gateway", self.env, port=self.gateway.port)


def start_services(envs: Mapping[str, Mapping[str, str]], *, ready_timeout_s: float = 300.0,
                   ) -> dict[str, ServiceProcess]:
    """Start every named service at once (their models load side by side), then wait until each is ready."""
    started = {name: start_service(name, dict(env), wait=False) for name, env in envs.items()}
    try:
        for service in started.values():
            service.wait_ready(ready_timeout_s)
    except BaseException:
        stop_all(started.values())
        raise
    return started


def gateway_environment(upstreams: Mapping[str, ServiceProcess], *, api_keys: str = "",
                        env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The gateway's environment: its keys, each upstream's URL, ready once every upstream is; ``env`` last."""
    urls = {f"GATEWAY_{name.upper()}_URL": service.url for name, service in upstreams.items()}
    return {"GATEWAY_API_KEYS": api_keys, "GATEWAY_READY_REQUIRES": ",".join(upstreams), **urls, **(env or {})}


def start_gateway(upstreams: Mapping[str, ServiceProcess], *, api_keys: str = "",
                  env: Mapping[str, str] | None = None, port: int | None = None) -> ServiceProcess:
    """A gateway process in front of ``upstreams`` (see :func:`gateway_environment`)."""
    return start_service("gateway", gateway_environment(upstreams, api_keys=api_keys, env=env), port=port)


def stop_all(processes: Iterable[ServiceProcess | WorkerProcess | None]) -> None:
    for process in processes:
        if process is not None:
            process.stop()


@contextmanager
def gateway_over(services: Mapping[str, Mapping[str, str]], *, api_keys: str = "",
                 gateway_env: Mapping[str, str] | None = None, jobs: bool = False,
                 ready_timeout_s: float = 300.0) -> Iterator[GatewayStack]:
    """Start ``services`` (name -> its environment), then a gateway in front of them; stop all afterwards.

    ``jobs`` adds a fresh Redis (the gateway's job queue, shared limits and cache) and a job worker with the
    gateway's environment. ``gateway_env`` adds to or overrides the gateway's environment.
    """
    with _maybe_redis(jobs) as redis_url:
        extra = {**({"GATEWAY_REDIS_URL": redis_url} if redis_url else {}), **(gateway_env or {})}
        started = start_services(services, ready_timeout_s=ready_timeout_s)
        stack: GatewayStack | None = None
        worker: WorkerProcess | None = None
        try:
            env = gateway_environment(started, api_keys=api_keys, env=extra)
            if jobs:
                worker = start_worker({**env, "POLYSERVE_INTERNAL_TOKEN": INTERNAL_TOKEN})
            stack = GatewayStack(started, start_service("gateway", env), env, worker)
            yield stack
        finally:
            stop_all([stack.gateway if stack else None, worker, *started.values()])


@contextmanager
def _maybe_redis(wanted: bool) -> Iterator[str | None]:
    if not wanted:
        yield None
        return
    with redis_server() as url:
        yield url
