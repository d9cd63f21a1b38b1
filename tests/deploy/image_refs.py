"""Which image each deployment runs, read the same way from compose, the kustomize overlays and `make images`.

Compose profile ``cpu`` and overlay ``cpu`` must name exactly the polyserve images `make images` builds (CPU
variant), and ``gpu`` those of ``make images VARIANT=cuda``; a test ties them together, and another compares
each built image's user, port, health check, environment and entrypoint with what compose and k8s expect.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.deploy.tools import ROOT

POLYSERVE_IMAGE = re.compile(r"^(?:[\w.-]+/)*polyserve/(?P<name>[\w-]+):(?P<tag>[\w.-]+)$")
# Shared layers `make images` builds that no deployment runs by itself.
LAYER_IMAGES = ("base", "deps", "deps-gateway", "redis")
PROFILE_VARIANT = {"cpu": "cpu", "gpu": "cuda"}


@dataclass(frozen=True)
class ImageUse:
    """One container of one deployment file that runs a polyserve image."""

    where: str
    image: str
    port: int | None
    user: int | None
    environment: dict[str, str]


def build_images_module(root: Path = ROOT) -> ModuleType:
    """deploy/docker/build_images.py, imported from its file (deploy/ is not a package)."""
    path = root / "deploy" / "docker" / "build_images.py"
    spec = importlib.util.spec_from_file_location("polyserve_build_images", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def built_tags(variant: str) -> set[str]:
    """The service images `make images` builds for a variant (shared layers left out)."""
    plan = build_images_module().plan("debian:bookworm-slim", variant, None, True)
    return {image.tag for image in plan if POLYSERVE_IMAGE.match(image.tag)
            and POLYSERVE_IMAGE.match(image.tag)["name"] not in LAYER_IMAGES}  # type: ignore[index]


def compose_uses(config: dict[str, Any], profile: str) -> list[ImageUse]:
    """Containers of one compose profile (plus the profile-less ones) that run polyserve images."""
    uses = []
    for name, service in sorted(config["services"].items()):
        profiles = service.get("profiles") or []
        if (profiles and profile not in profiles) or not POLYSERVE_IMAGE.match(service.get("image", "")):
            continue
        environment = {key: str(value) for key, value in (service.get("environment") or {}).items()}
        port = next((int(value) for key, value in environment.items() if key.endswith("_PORT")), None)
        uses.append(ImageUse(f"compose {profile} {name}", service["image"], port, None, environment))
    return uses


def k8s_uses(documents: list[dict[str, Any]], overlay: str) -> list[ImageUse]:
    """Containers of an overlay's Deployments that run polyserve images, with port and pod user."""
    uses = []
    for document in documents:
        if document.get("kind") != "Deployment":
            continue
        pod = document["spec"]["template"]["spec"]
        user = (pod.get("securityContext") or {}).get("runAsUser")
        for container in pod["containers"]:
            if not POLYSERVE_IMAGE.match(container["image"]):
                continue
            ports = [port["containerPort"] for port in container.get("ports", [])]
            environment = {item["name"]: str(item.get("value", "")) for item in container.get("env", [])}
            uses.append(ImageUse(f"k8s/{overlay} deployment/{document['metadata']['name']}", container["image"],
                                 ports[0] if ports else None,
                                 (container.get("securityContext") or {}).get("runAsUser", user), environment))
    return uses


def image_name(image: str) -> str:
    """``registry/polyserve/text:0.1.0-cpu`` -> ``polyserve/text:0.1.0-cpu`` (the registry is the user's)."""
    match = POLYSERVE_IMAGE.match(image)
    return f"polyserve/{match['name']}:{match['tag']}" if match else image
