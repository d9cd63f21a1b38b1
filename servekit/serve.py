"""Run a service under gunicorn (threaded workers), configured from the service's own settings.

``python -m servekit.serve text`` binds where ``TEXT_HOST``/``TEXT_PORT`` say, with ``TEXT_THREADS`` threads.
One worker process per service instance: the models and the micro-batcher live in it, and request threads
feed the batcher. Scale out with more instances (one per GPU), not more workers.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from gunicorn.app.base import BaseApplication

from servekit.catalog import SERVICES
from servekit.models import import_object
from servekit.settings import ServiceSettings


class _Server(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    def __init__(self, factory: Any, settings: ServiceSettings, options: dict[str, Any]) -> None:
        self._factory = factory
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self._factory(self._settings)


def gunicorn_options(settings: ServiceSettings, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bind": f"{settings.host}:{settings.port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": settings.threads,
        # Slow model loads happen in a background thread, so the worker never misses its heartbeat.
        "timeout": max(60, int(settings.request_timeout_s * 2)),
        "graceful_timeout": 30,
        "keepalive": 30,
        "accesslog": None,
        "loglevel": settings.log_level.lower(),
        "limit_request_line": 8190,
        # No control socket: containers run with read-only root filesystems and nothing uses it.
        "control_socket_disable": True,
    }
    options.update(extra or {})
    return options


def main(argv: list[str] | None = None) -> None:
    # OpenMP threads that spin while waiting steal the cores the request threads and other processes need:
    # a 2-thread forward pass measured 3-6x slower on a shared host. Set before torch loads; env still wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service", choices=sorted(SERVICES))
    args = parser.parse_args(argv)
    spec = SERVICES[args.service]
    settings: ServiceSettings = import_object(spec.settings)()
    _Server(import_object(spec.app), settings, gunicorn_options(settings, settings.gunicorn_options())).run()


if __name__ == "__main__":
    main()
