"""Prepare ``.build-inputs/`` (git-ignored, in the build context): what the image builds need from this host.

Image builds download Python packages the way the host's pip does: ``pip.conf`` carries the host's CA bundle
(``cert``, copied as ``ca.crt``) and the index it is configured with, and ``wheels/`` is a wheelhouse of local
wheels, the torch wheel above all. The builder stages read them through ``PIP_CONFIG_FILE``; no runtime image
keeps them. Usage: ``python3 deploy/docker/build_inputs.py [--torch-wheel PATH]`` (``TORCH_WHEEL`` too).
Without a torch wheel the CPU build takes torch from ``TORCH_INDEX_URL`` (the PyTorch CPU index) instead.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / ".build-inputs"
# Where the files sit inside a builder stage (deps.Dockerfile copies the folder there).
IN_IMAGE = "/build-inputs"


def host_pip_config(python: str = sys.executable) -> dict[str, str]:
    """The host's effective pip configuration (``pip config list``: files and PIP_* variables), keys shortened
    to their option name (``global.cert`` and ``:env:.cert`` both become ``cert``; the environment wins)."""
    result = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False)
    config: dict[str, str] = {}
    for line in sorted(result.stdout.splitlines(), key=lambda line: line.startswith(":env:")):
        key, sep, value = line.partition("=")
        if sep:
            config[key.rsplit(".", 1)[-1]] = value.strip().strip("'\"")
    return config


def find_torch_wheel(config: dict[str, str], version: str) -> Path | None:
    """The CPU torch wheel of ``version`` in the host pip's ``find-links`` folders, if one is there."""
    for folder in config.get("find-links", "").split():
        path = Path(folder.removeprefix("file://"))
        if path.is_dir():
            wheels = sorted(path.glob(f"torch-{version}+cpu-*.whl"))
            if wheels:
                return wheels[-1]
    return None


def remote_index(config: dict[str, str]) -> str | None:
    """The host's package index when it is a URL a container can reach too (file:// indexes are host-only)."""
    index = config.get("index-url", "")
    return index if index.startswith(("http://", "https://")) else None


def pip_conf_text(has_cert: bool, index_url: str | None) -> str:
    """pip.conf of the builder stages: the wheelhouse always, the host's CA bundle and index when it has them."""
    lines = ["[global]", f"find-links = {IN_IMAGE}/wheels", "disable-pip-version-check = true",
             "default-timeout = 180"]
    if has_cert:
        lines.append(f"cert = {IN_IMAGE}/ca.crt")
    if index_url:
        lines.append(f"index-url = {index_url}")
    return "\n".join(lines) + "\n"


def prepare(target: Path, torch_wheel: Path | None, torch_version: str) -> Path | None:
    """Write ``target`` afresh; return the torch wheel put in its wheelhouse (None: none found)."""
    config = host_pip_config()
    wheels = target / "wheels"
    if target.exists():
        shutil.rmtree(target)
    wheels.mkdir(parents=True)
    cert = Path(config["cert"]) if config.get("cert") else None
    if cert is not None and cert.is_file():
        shutil.copyfile(cert, target / "ca.crt")
    wheel = torch_wheel or find_torch_wheel(config, torch_version)
    if wheel is not None:
        # A hard link when the wheelhouse is on the same disk: no 200 MB copy on every build.
        try:
            os.link(wheel, wheels / wheel.name)
        except OSError:
            shutil.copyfile(wheel, wheels / wheel.name)
    (target / "pip.conf").write_text(pip_conf_text((target / "ca.crt").exists(), remote_index(config)))
    return wheel


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--torch-wheel", type=Path, default=Path(os.environ["TORCH_WHEEL"])
                        if os.environ.get("TORCH_WHEEL") else None, help="a local torch wheel (else pip's find-links)")
    parser.add_argument("--torch-version", default="2.13.0")
    args = parser.parse_args(argv)
    wheel = prepare(args.dest, args.torch_wheel, args.torch_version)
    print(f"build inputs in {args.dest}: torch wheel {wheel or 'none (torch comes from TORCH_INDEX_URL)'}")


if __name__ == "__main__":
    main()
