"""The Dockerfiles have the shape the issue asks for: shared layers (one Debian base, one dependency image) built
by `make images`, service images that add only their sources on top, non-root, exec-form entrypoints, a health
check, dependencies installed before sources are copied and build inputs kept out of the images, and one base
for the CPU and CUDA variants (no nvidia/cuda image: a CPU build must never pull it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy.dockerfiles import logical_lines, parse_stages, read_dockerfile, service_dockerfiles
from tests.deploy.tools import ROOT

DOCKERFILES = service_dockerfiles(ROOT)
DEPS = ROOT / "deploy" / "docker" / "deps.Dockerfile"
BASE = ROOT / "deploy" / "docker" / "base.Dockerfile"
ALL_DOCKERFILES = [*DOCKERFILES, DEPS, BASE, ROOT / "deploy" / "docker" / "redis.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_service_images_are_sources_on_a_shared_dependency_image(dockerfile: Path) -> None:
    global_args, stages = parse_stages(dockerfile.read_text())
    assert [stage.name for stage in stages] == ["runtime"]
    expected = "polyserve/deps-gateway:" if dockerfile.parent.name == "gateway" else "polyserve/deps:"
    assert global_args["DEPS_IMAGE"].startswith(expected) and stages[0].parent == global_args["DEPS_IMAGE"]
    runs = " ".join(rest for keyword, rest in stages[0].instructions if keyword == "RUN")
    assert "pip install" not in runs, "dependencies belong in deps.Dockerfile, shared by every service image"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_non_root_exec_form_with_health_check(dockerfile: Path) -> None:
    _, stages = parse_stages(dockerfile.read_text())
    image = read_dockerfile(dockerfile)
    assert image.user == "10001:10001"
    assert len(image.entrypoint) > 1 and json.loads(dict(stages[-1].instructions)["ENTRYPOINT"])
    assert image.healthcheck and image.healthcheck[0] == "python3"


def test_dependencies_are_installed_before_the_sources_and_build_inputs_stay_in_the_builder() -> None:
    _, stages = parse_stages(DEPS.read_text())
    assert [stage.name for stage in stages] == ["requirements", "builder", None]
    builder = stages[1].instructions
    torch = next(i for i, (keyword, rest) in enumerate(builder) if keyword == "RUN" and "TORCH_SPEC" in rest)
    deps = next(i for i, (keyword, rest) in enumerate(builder) if keyword == "RUN" and "-r requirements.txt" in rest)
    assert torch < deps
    final = stages[-1].instructions
    assert [rest for keyword, rest in final if keyword == "COPY"] == ["--from=builder /opt/venv /opt/venv"]
    assert not any(".build-inputs" in rest for _, rest in final)


def test_one_debian_base_for_both_variants_and_no_cuda_base_image() -> None:
    for dockerfile in ALL_DOCKERFILES:
        text = " ".join(logical_lines(dockerfile.read_text()))
        assert "nvidia/cuda" not in text, dockerfile
    global_args, _ = parse_stages(BASE.read_text())
    assert global_args["BASE_IMAGE"].startswith("debian:bookworm")
    deps_args = " ".join(logical_lines(DEPS.read_text()))
    assert "TORCH_SPEC" in deps_args and "TORCH_INDEX_URL" in deps_args
    for name in ("text", "vision", "audio"):
        assert "HF_MODELS" in (ROOT / "services" / name / "Dockerfile").read_text()


def test_dockerignore_keeps_secrets_and_venvs_out_of_the_build_context() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".venv-*", "**/secrets", "**/*.env", "tests"} <= ignored
    assert not {"servekit", "services", "gateway", "pyproject.toml", ".build-inputs"} & ignored
    assert {"README.md", "docs"} <= ignored  # no image layer rebuilds when the documentation changes
