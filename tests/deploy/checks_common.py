"""Checks shared by the Dockerfile, compose and Kubernetes consistency checks: one container's environment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from pydantic import ValidationError

from tests.deploy.code_facts import EXTERNAL_VARIABLES, Deployable, HealthRoutes, backend_registry

HEALTHCHECK_SCRIPT = "/opt/polyserve/healthcheck.py"
PATH_VARIABLE_SUFFIXES = ("_DIR", "_FILE")


def unknown_variables(where: str, names: Iterable[str], deployable: Deployable) -> list[str]:
    """Variables that neither the service's settings nor the allow-list of library switches know."""
    known = deployable.variables | EXTERNAL_VARIABLES
    return [f"{where}: {name} is read by no {deployable.settings_class.__name__} field and is not a known "
            f"library variable" for name in sorted(set(names)) if name.upper() not in known]


def load_settings(where: str, deployable: Deployable, environ: dict[str, str]) -> tuple[Any, list[str]]:
    """The settings this environment gives the service, or the validation problem."""
    try:
        return deployable.settings_from(environ), []
    except ValidationError as error:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return None, [f"{where}: {deployable.settings_class.__name__} rejects its environment: {details}"]


def port_and_host(where: str, deployable: Deployable, settings: Any) -> list[str]:
    """Containers listen on the code's port, on every interface."""
    problems = []
    if settings.port != deployable.default_port:
        problems.append(f"{where}: {deployable.prefix}PORT is {settings.port} but the code's port is "
                        f"{deployable.default_port}")
    if settings.host != "0.0.0.0":
        problems.append(f"{where}: {deployable.prefix}HOST is {settings.host!r}; a container must bind 0.0.0.0")
    return problems


def model_problems(where: str, deployable: Deployable, settings: Any) -> list[str]:
    """Configured models name a backend that the service's registry has."""
    registry = backend_registry(deployable.name)
    if registry is None:
        return []
    return [f"{where}: model {spec.name!r} names backend {spec.backend!r}; {deployable.name} has {sorted(registry)}"
            for spec in getattr(settings, "models", None) or [] if spec.backend not in registry]


# Files the image build writes and the service only reads (e.g. the Whisper model joined at build time).
IMAGE_CONTENT = "/opt/polyserve/"


def path_variables_on_volumes(where: str, environ: dict[str, str], writable: Iterable[str]) -> list[str]:
    """On a read-only root filesystem, model caches, data dirs and mounted files must lie on a volume, unless
    they are content baked into the image at build time (under /opt/polyserve/, only read at run time)."""
    mounts = [mount.rstrip("/") for mount in writable] + [IMAGE_CONTENT.rstrip("/")]
    problems = []
    for name, value in sorted(environ.items()):
        if not (name == "HF_HOME" or name.endswith(PATH_VARIABLE_SUFFIXES)) or not value.startswith("/"):
            continue
        if not any(value == mount or value.startswith(mount + "/") for mount in mounts):
            problems.append(f"{where}: {name}={value} is on no mounted volume ({', '.join(mounts) or 'none'})")
    return problems


def url_targets(where: str, environ: dict[str, str], service_ports: dict[str, int | None]) -> list[str]:
    """``*_URL`` variables name a service of the same deployment, on the port that service listens on."""
    problems = []
    for name, value in sorted(environ.items()):
        if not name.endswith("_URL") or "://" not in value:
            continue
        url = urlparse(value)
        host = (url.hostname or "").split(".")[0]
        if host not in service_ports:
            problems.append(f"{where}: {name}={value} names {host!r}, which is no service here "
                            f"({', '.join(sorted(service_ports))})")
        elif service_ports[host] is not None and url.port != service_ports[host]:
            problems.append(f"{where}: {name}={value} uses port {url.port}; {host} listens on "
                            f"{service_ports[host]}")
    return problems


def healthcheck_problems(where: str, command: list[str], deployable: Deployable,
                         routes: HealthRoutes) -> list[str]:
    """``python3 healthcheck.py SERVICE PATH``: the right service (hence its port variable) and a real route."""
    if HEALTHCHECK_SCRIPT not in command:
        return [f"{where}: health check {command} does not run {HEALTHCHECK_SCRIPT} in exec form"]
    args = command[command.index(HEALTHCHECK_SCRIPT) + 1:]
    problems = []
    if not args or args[0] != deployable.name:
        problems.append(f"{where}: health check names service {args[:1]}, not {deployable.name!r}")
    if f"{deployable.name.upper()}_PORT" not in deployable.variables:
        problems.append(f"{where}: the health check reads {deployable.name.upper()}_PORT, which "
                        f"{deployable.settings_class.__name__} does not read")
    path = args[1] if len(args) > 1 else routes.liveness
    if path not in routes.all:
        problems.append(f"{where}: health check path {path} is no health route ({sorted(routes.all)})")
    return problems
