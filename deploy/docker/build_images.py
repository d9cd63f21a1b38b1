"""Build every polyserve image in order, sharing layers: ``make images`` runs this.

polyserve/base (Debian + Python + user 10001) -> polyserve/deps:<tag>-<variant> (torch and the model
services' packages, one layer) and polyserve/deps-gateway -> text, vision, audio, fusion, gateway (sources
only on top), plus polyserve/redis when the stock Redis image cannot be pulled. Works with the classic builder
(chosen when the buildx plugin is missing) and with BuildKit alike. The Debian base is ``--base-image``; when
it is neither present nor pullable, it is made from Debian's packages with mmdebstrap and ``docker import``.
Prints each image's build time and size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_inputs import DEFAULT_DIR, prepare  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TAG = "0.1.0"
DEFAULT_BASE = "debian:bookworm-slim"
MMDEBSTRAP_BASE = "polyserve-base/debian:bookworm"
STOCK_REDIS = "redis:7.4-alpine"
TORCH_VERSION = "2.13.0"
# The CPU build comes from the wheelhouse when there is one, else from the PyTorch CPU index.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
MODEL_SERVICES = ("text", "vision", "audio", "fusion")


@dataclass(frozen=True)
class Image:
    """One ``docker build``: the tag it makes, its Dockerfile and build arguments."""

    tag: str
    dockerfile: str
    args: tuple[tuple[str, str], ...] = ()


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def image_exists(tag: str) -> bool:
    return run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def image_size(tag: str) -> int:
    result = run(["docker", "image", "inspect", "-f", "{{.Size}}", tag], capture_output=True)
    return int(result.stdout.strip() or 0)


def try_pull(tag: str, timeout_s: float = 60) -> bool:
    """Pull ``tag``; False when no registry answers (offline sites) instead of failing the build."""
    try:
        return run(["docker", "pull", "-q", tag], capture_output=True, timeout=timeout_s).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def make_debian_base(tag: str, suite: str = "bookworm") -> None:
    """A Debian rootfs with Python from Debian's packages (mmdebstrap), loaded as image ``tag``."""
    if not shutil.which("mmdebstrap"):
        raise SystemExit("no Debian base image can be pulled and mmdebstrap is missing: apt-get install mmdebstrap")
    debootstrap = subprocess.Popen(
        ["mmdebstrap", "--variant=apt", "--include=python3,python3-venv,ca-certificates", suite, "-"],
        stdout=subprocess.PIPE)
    imported = run(["docker", "import", "-c", "CMD [\"bash\"]", "-", tag], stdin=debootstrap.stdout,
                   capture_output=True)
    if debootstrap.wait() != 0 or imported.returncode != 0:
        raise SystemExit(f"mmdebstrap | docker import failed: {imported.stderr}")


def resolve_base(requested: str | None) -> str:
    """The Debian base to build on: the requested or default one when present or pullable, else mmdebstrap's."""
    candidate = requested or DEFAULT_BASE
    if image_exists(candidate) or try_pull(candidate):
        return candidate
    if requested:
        raise SystemExit(f"base image {requested} is neither present nor pullable")
    if not image_exists(MMDEBSTRAP_BASE):
        print(f"{DEFAULT_BASE} cannot be pulled: making {MMDEBSTRAP_BASE} with mmdebstrap", flush=True)
        make_debian_base(MMDEBSTRAP_BASE)
    return MMDEBSTRAP_BASE


def torch_args(variant: str, wheel: Path | None) -> tuple[tuple[str, str], ...]:
    """CPU: the wheelhouse's torch+cpu (or the CPU index); CUDA: PyPI's torch, which carries CUDA libraries."""
    if variant == "cuda":
        return (("TORCH_SPEC", f"torch=={TORCH_VERSION}"), ("TORCH_INDEX_URL", ""))
    index = "" if wheel is not None else os.environ.get("TORCH_INDEX_URL", TORCH_CPU_INDEX)
    return (("TORCH_SPEC", f"torch=={TORCH_VERSION}+cpu"), ("TORCH_INDEX_URL", index))


def plan(base: str, variant: str, wheel: Path | None, redis: bool) -> list[Image]:
    """Every build, in dependency order."""
    deps = f"polyserve/deps:{TAG}-{variant}"
    images = [
        Image(f"polyserve/base:{TAG}", "deploy/docker/base.Dockerfile", (("BASE_IMAGE", base),)),
        Image(deps, "deploy/docker/deps.Dockerfile",
              (("EXTRAS", ",".join(MODEL_SERVICES)), *torch_args(variant, wheel))),
        Image(f"polyserve/deps-gateway:{TAG}", "deploy/docker/deps.Dockerfile",
              (("EXTRAS", "gateway"), ("TORCH_SPEC", ""))),
    ]
    for service in MODEL_SERVICES:
        suffix = "" if service == "fusion" else f"-{variant}"
        images.append(Image(f"polyserve/{service}:{TAG}{suffix}", f"services/{service}/Dockerfile",
                            (("DEPS_IMAGE", deps),)))
    images.append(Image(f"polyserve/gateway:{TAG}", "gateway/Dockerfile"))
    if redis:
        images.append(Image(f"polyserve/redis:{TAG}", "deploy/docker/redis.Dockerfile", (("BASE_IMAGE", base),)))
    return images


def build_environment() -> dict[str, str]:
    """BuildKit when the buildx plugin is there, else the classic builder (the docker CLI refuses otherwise)."""
    has_buildx = run(["docker", "buildx", "version"], capture_output=True).returncode == 0
    return {**os.environ, "DOCKER_BUILDKIT": os.environ.get("DOCKER_BUILDKIT", "1" if has_buildx else "0")}


def build(image: Image, env: dict[str, str], quiet: bool) -> float:
    """``docker build`` from the repository root; the seconds it took."""
    command = ["docker", "build", "-f", image.dockerfile, "-t", image.tag]
    for key, value in image.args:
        command += ["--build-arg", f"{key}={value}"]
    command += ["-q"] if quiet else []
    started = time.monotonic()
    result = run([*command, "."], cwd=ROOT, env=env, stdout=subprocess.DEVNULL if quiet else None)
    if result.returncode != 0:
        raise SystemExit(f"docker build of {image.tag} failed ({' '.join(command)})")
    return time.monotonic() - started


def build_all(variant: str, base_image: str | None, torch_wheel: Path | None, quiet: bool) -> list[tuple[str, float]]:
    """Prepare the build inputs, then build every image; (tag, seconds) per image, in order."""
    wheel = prepare(DEFAULT_DIR, torch_wheel, TORCH_VERSION) if variant == "cpu" else prepare(
        DEFAULT_DIR, None, "none")
    base = resolve_base(base_image)
    redis = not (image_exists(STOCK_REDIS) or try_pull(STOCK_REDIS))
    env = build_environment()
    timings = []
    for image in plan(base, variant, wheel, redis):
        print(f"== building {image.tag} ({image.dockerfile})", flush=True)
        timings.append((image.tag, build(image, env, quiet)))
        if image.dockerfile.endswith("deps.Dockerfile"):
            # Only the dependency builds read the wheelhouse: later builds send a context without it.
            for path in (DEFAULT_DIR / "wheels").glob("*.whl"):
                path.unlink()
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("cpu", "cuda"), default=os.environ.get("VARIANT", "cpu"))
    parser.add_argument("--base-image", default=os.environ.get("BASE_IMAGE") or None,
                        help=f"Debian bookworm image to build on (default {DEFAULT_BASE}, else mmdebstrap's)")
    parser.add_argument("--torch-wheel", type=Path, default=Path(os.environ["TORCH_WHEEL"])
                        if os.environ.get("TORCH_WHEEL") else None, help="local CPU torch wheel")
    parser.add_argument("--quiet", action="store_true", help="no build output, only the summary")
    args = parser.parse_args(argv)
    started = time.monotonic()
    timings = build_all(args.variant, args.base_image, args.torch_wheel, args.quiet)
    print(f"\n{'image':<36} {'build s':>8} {'size MB':>8}")
    for tag, seconds in timings:
        print(f"{tag:<36} {seconds:8.1f} {image_size(tag) / 1e6:8.0f}")
    print(f"all images built in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
