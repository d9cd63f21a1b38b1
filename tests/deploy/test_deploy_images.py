"""The Dockerfiles have the shape the issue asks for: multi-stage, non-root, exec-form entrypoint, a health
check, dependencies installed before the sources are copied, and for the encoders a CUDA base with a CPU
variant chosen by a build argument."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from servekit.catalog import ENCODERS
from tests.deploy.dockerfiles import logical_lines, parse_stages, read_dockerfile, service_dockerfiles
from tests.deploy.tools import ROOT

DOCKERFILES = service_dockerfiles(ROOT)
ENCODER_DOCKERFILES = [path for path in DOCKERFILES if path.parent.name in ENCODERS]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_multi_stage_non_root_exec_form_with_health_check(dockerfile: Path) -> None:
    _, stages = parse_stages(dockerfile.read_text())
    assert len(stages) >= 2 and {"builder", "runtime"} <= {stage.name for stage in stages}
    assert stages[-1].name == "runtime"
    image = read_dockerfile(dockerfile)
    assert image.user is not None and image.user.split(":")[0] not in ("root", "0")
    assert len(image.entrypoint) > 1 and json.loads(dict(stages[-1].instructions)["ENTRYPOINT"])
    assert image.healthcheck and image.healthcheck[0] == "python3"
    # Only the venv and files copied on purpose come from the builder: no compilers, no sources tree.
    copies = [rest for keyword, rest in stages[-1].instructions if keyword == "COPY"]
    assert any("--from=builder /opt/venv /opt/venv" in rest for rest in copies)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_dependencies_are_installed_before_the_sources_are_copied(dockerfile: Path) -> None:
    _, stages = parse_stages(dockerfile.read_text())
    builder = next(stage for stage in stages if stage.name == "builder").instructions
    deps = next(i for i, (keyword, rest) in enumerate(builder) if keyword == "RUN" and "-r requirements.txt" in rest)
    sources = next(i for i, (keyword, rest) in enumerate(builder) if keyword == "COPY" and "servekit" in rest)
    assert deps < sources


@pytest.mark.parametrize("dockerfile", ENCODER_DOCKERFILES, ids=lambda p: p.parent.name)
def test_encoders_have_a_cuda_base_and_a_cpu_variant(dockerfile: Path) -> None:
    global_args, stages = parse_stages(dockerfile.read_text())
    assert global_args["VARIANT"] == "cuda"
    assert global_args["CUDA_IMAGE"].startswith("nvidia/cuda:") and "runtime" in global_args["CUDA_IMAGE"]
    assert {"base-cuda", "base-cpu"} <= {stage.name for stage in stages}
    base = next(stage for stage in stages if stage.name == "base")
    assert base.parent == "base-cuda"  # resolved from the VARIANT default; --build-arg VARIANT=cpu picks base-cpu
    text = " ".join(logical_lines(dockerfile.read_text()))
    assert "TORCH_INDEX_CUDA" in text and "TORCH_INDEX_CPU" in text and "HF_MODELS" in text


def test_dockerignore_keeps_secrets_and_venvs_out_of_the_build_context() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".venv-*", "**/secrets", "**/*.env", "tests"} <= ignored
    assert not {"servekit", "services", "gateway", "pyproject.toml"} & ignored
    assert {"README.md", "docs"} <= ignored  # no image layer rebuilds when the documentation changes
