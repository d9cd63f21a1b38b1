"""Compose, the kustomize overlays and `make images` name the same images, run them as the same user on the
same ports; a renamed tag or a changed port in one of them is caught."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.deploy.dockerfiles import read_dockerfile
from tests.deploy.image_refs import PROFILE_VARIANT, built_tags, compose_uses, image_name, k8s_uses
from tests.deploy.tools import ROOT


@pytest.mark.parametrize("profile", sorted(PROFILE_VARIANT))
def test_compose_and_kubernetes_run_exactly_the_images_make_images_builds(
        profile: str, compose: dict[str, Any], objects: dict[str, list[dict[str, Any]]]) -> None:
    built = built_tags(PROFILE_VARIANT[profile])
    assert {image_name(use.image) for use in compose_uses(compose, profile)} == built
    assert {image_name(use.image) for use in k8s_uses(objects[profile], profile)} == built


@pytest.mark.parametrize("profile", sorted(PROFILE_VARIANT))
def test_ports_agree_between_compose_and_kubernetes(
        profile: str, compose: dict[str, Any], objects: dict[str, list[dict[str, Any]]]) -> None:
    k8s_ports: dict[str, set[int | None]] = {}
    for use in k8s_uses(objects[profile], profile):
        k8s_ports.setdefault(image_name(use.image), set()).add(use.port)
    for use in compose_uses(compose, profile):
        if use.port is not None:
            assert use.port in k8s_ports[image_name(use.image)], use


def test_pods_run_as_the_user_the_dockerfiles_name(objects: dict[str, list[dict[str, Any]]]) -> None:
    users = {path.parent.name: read_dockerfile(path).user for path in
             [*ROOT.glob("services/*/Dockerfile"), ROOT / "gateway" / "Dockerfile"]}
    assert set(users.values()) == {"10001:10001"}
    for overlay in PROFILE_VARIANT:
        for use in k8s_uses(objects[overlay], overlay):
            assert use.user == 10001, use


def test_a_tag_drift_is_caught(compose: dict[str, Any], objects: dict[str, list[dict[str, Any]]]) -> None:
    drifted = copy.deepcopy(objects["cpu"])
    for document in drifted:
        if document.get("kind") == "Deployment" and document["metadata"]["name"] == "vision":
            container = document["spec"]["template"]["spec"]["containers"][0]
            container["image"] = container["image"].replace("-cpu", "-cuda")
    assert {image_name(use.image) for use in k8s_uses(drifted, "cpu")} != built_tags("cpu")
