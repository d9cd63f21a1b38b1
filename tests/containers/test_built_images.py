"""The images `make images` built carry what compose and the Kubernetes overlays expect of them: the user the
pods run as, the port the manifests probe and route to, the Dockerfile's health check, environment and
entrypoint."""

from __future__ import annotations

from typing import Any

import docker
import pytest
import yaml

from tests.deploy.consistency import compose_config
from tests.deploy.dockerfiles import ImageFacts, read_dockerfile
from tests.deploy.image_refs import built_tags, compose_uses, image_name, k8s_uses
from tests.deploy.tools import ROOT, render_kustomization

pytestmark = pytest.mark.containers


def dockerfile_of(tag: str) -> ImageFacts:
    name = tag.split("/", 1)[1].split(":", 1)[0]
    return read_dockerfile(ROOT / ("gateway" if name == "gateway" else f"services/{name}") / "Dockerfile")


@pytest.fixture(scope="module")
def built(images: float) -> dict[str, dict[str, Any]]:
    """Tag -> ``docker image inspect``'s Config of every CPU service image."""
    client = docker.from_env(timeout=60)
    try:
        return {tag: client.images.get(tag).attrs["Config"] for tag in sorted(built_tags("cpu"))}
    finally:
        client.close()


def test_built_images_match_their_dockerfiles(built: dict[str, dict[str, Any]]) -> None:
    for tag, config in built.items():
        facts = dockerfile_of(tag)
        assert config["User"] == facts.user == "10001:10001", tag
        assert tuple(config["Entrypoint"]) == facts.entrypoint, tag
        assert config["Healthcheck"]["Test"] == ["CMD", *facts.healthcheck], tag
        assert set(config["ExposedPorts"]) == {f"{port}/tcp" for port in facts.exposed_ports}, tag
        environment = dict(item.split("=", 1) for item in config["Env"])
        for key, value in facts.env.items():
            if "$" not in value:
                assert environment.get(key) == value, (tag, key)


def test_kubernetes_and_compose_route_to_the_port_each_built_image_exposes(
        built: dict[str, dict[str, Any]]) -> None:
    documents = [doc for doc in yaml.safe_load_all(render_kustomization(ROOT / "deploy/overlays/cpu")) if doc]
    uses = k8s_uses(documents, "cpu") + compose_uses(compose_config(ROOT), "cpu")
    assert {image_name(use.image) for use in uses} == set(built)
    for use in uses:
        exposed = {int(port.split("/")[0]) for port in built[image_name(use.image)]["ExposedPorts"]}
        if use.port is not None:
            assert use.port in exposed, use
        if use.user is not None:
            assert f"{use.user}:{use.user}" == built[image_name(use.image)]["User"], use
