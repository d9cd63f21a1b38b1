"""hadolint on every Dockerfile and checkov on the Dockerfiles and each rendered overlay: both pass, every
accepted finding is justified where it is accepted, and both do flag a bad file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.deploy.conftest import KUSTOMIZATIONS
from tests.deploy.dockerfiles import service_dockerfiles
from tests.deploy.tools import ROOT, checkov_binary, run, tool

DOCKERFILES = service_dockerfiles(ROOT)
BAD_DOCKERFILE = """FROM python
RUN apt-get update && apt-get install -y curl
COPY . /app
CMD python -m servekit.serve text
"""


def hadolint(path: Path) -> tuple[int, str]:
    result = run([tool("hadolint"), "--no-color", path])
    return result.returncode, result.stdout + result.stderr


def checkov(*args: str | Path) -> tuple[int, str]:
    result = run([checkov_binary(), "--skip-download", "--compact", "--quiet", *args])
    return result.returncode, result.stdout + result.stderr


def test_every_service_has_its_own_dockerfile() -> None:
    assert [path.relative_to(ROOT).as_posix() for path in DOCKERFILES] == [
        "services/audio/Dockerfile", "services/fusion/Dockerfile", "services/text/Dockerfile",
        "services/vision/Dockerfile", "gateway/Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    code, output = hadolint(dockerfile)
    assert code == 0, output


def test_hadolint_flags_a_bad_dockerfile(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(BAD_DOCKERFILE)
    code, output = hadolint(path)
    assert code != 0
    assert {"DL3006", "DL3008", "DL3025"} <= set(re.findall(r"DL\d{4}", output))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_each_accepted_dockerfile_finding_says_why(dockerfile: Path) -> None:
    """An ignore/skip comment has its reason on the comment line above it (hadolint) or after it (checkov)."""
    lines = dockerfile.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            assert lines[number - 1].startswith("#") and len(lines[number - 1]) > 30, (dockerfile, number)
        if "checkov:skip=" in line:
            assert len(line.split(":", 2)[-1].strip()) > 30, (dockerfile, number)


def test_checkov_passes_on_the_dockerfiles() -> None:
    code, output = checkov("--framework", "dockerfile", *[arg for path in DOCKERFILES for arg in ("-f", path)])
    assert code == 0, output
    assert "Failed checks: 0" in output


@pytest.mark.parametrize("overlay", KUSTOMIZATIONS)
def test_checkov_passes_on_the_overlay(overlay: str, rendered: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / f"{overlay}.yaml"
    path.write_text(rendered[overlay])
    code, output = checkov("--framework", "kubernetes", "-f", path)
    assert code == 0, output
    assert "Failed checks: 0" in output


def test_checkov_flags_privilege_escalation(rendered: dict[str, str], tmp_path: Path) -> None:
    weakened = rendered["cpu"].replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true")
    path = tmp_path / "weak.yaml"
    path.write_text(weakened)
    code, output = checkov("--framework", "kubernetes", "-f", path)
    assert code != 0
    assert "CKV_K8S_20" in output  # containers must not allow privilege escalation


def test_each_accepted_manifest_finding_says_why(rendered: dict[str, str]) -> None:
    skips = re.findall(r"checkov\.io/skip\d+: (CKV\w+)=(.*)", "\n".join(rendered.values()))
    assert skips
    assert all(len(reason.strip()) > 30 for _, reason in skips), skips
