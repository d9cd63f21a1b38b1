"""Dockerfiles against the code: entrypoint, environment, EXPOSE, HEALTHCHECK, non-root user."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.checks_common import healthcheck_problems, load_settings, port_and_host, unknown_variables
from tests.deploy.code_facts import Deployable, HealthRoutes
from tests.deploy.dockerfiles import ImageFacts, read_dockerfile, service_dockerfiles


def check_image(image: ImageFacts, deployables: dict[str, Deployable], routes: HealthRoutes) -> list[str]:
    where = f"docker {image.path}"
    if image.service not in deployables:
        return [f"{where}: ENTRYPOINT {list(image.entrypoint)} runs no known service ({sorted(deployables)})"]
    deployable = deployables[image.service]
    problems = unknown_variables(where, image.env, deployable)
    settings, invalid = load_settings(where, deployable, image.env)
    problems += invalid
    if settings is None:
        return problems
    problems += port_and_host(where, deployable, settings)
    if list(image.exposed_ports) != [settings.port]:
        problems.append(f"{where}: EXPOSE {list(image.exposed_ports)} but the service listens on {settings.port}")
    problems += healthcheck_problems(where, list(image.healthcheck), deployable, routes)
    if image.user in (None, "root", "0", "0:0"):
        problems.append(f"{where}: the final stage runs as root (USER {image.user})")
    return problems


def check_dockerfiles(root: Path, deployables: dict[str, Deployable], routes: HealthRoutes) -> list[str]:
    images = [read_dockerfile(path) for path in service_dockerfiles(root)]
    problems = [problem for image in images for problem in check_image(image, deployables, routes)]
    missing = set(deployables) - {image.service for image in images}
    problems += [f"docker: no Dockerfile runs {name}" for name in sorted(missing)]
    return problems


def images_by_service(root: Path) -> dict[str, ImageFacts]:
    return {image.service: image for image in map(read_dockerfile, service_dockerfiles(root)) if image.service}
