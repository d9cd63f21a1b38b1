"""Download hub models so that the services load them later with no network.

Two uses. At image build time (build argument ``HF_MODELS``) with ``--dest /opt/polyserve/models``: each model
becomes a plain folder ``/opt/polyserve/models/<org>/<name>``, baked into the image and named as a model's
``source``; a cache volume mounted at /models never hides it. Into the model-cache volume (no ``--dest``):
the models land in the hub cache under ``HF_HOME`` and load by hub id with ``HF_HUB_OFFLINE=1``.
Each model is a hub id, optionally ``id@revision``; none does nothing (the default models come from PyPI
packages and need no download).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def split_spec(spec: str) -> tuple[str, str | None]:
    """``org/name@rev`` -> (``org/name``, ``rev``); a bare id keeps the default branch."""
    repo_id, _, revision = spec.partition("@")
    return repo_id, revision or None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=None, help="Folder of plain model folders (else HF_HOME).")
    parser.add_argument("models", nargs="*", help="Hub ids, space or comma separated, optionally id@revision.")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    specs = [spec for arg in args.models for spec in arg.replace(",", " ").split()]
    if not specs:
        print("fetch_models: no hub models requested; the packaged default models need none")
        return
    from huggingface_hub import snapshot_download

    for spec in specs:
        repo_id, revision = split_spec(spec)
        local_dir = str(args.dest / repo_id) if args.dest else None
        path = snapshot_download(repo_id, revision=revision, local_dir=local_dir)
        print(f"fetch_models: {spec} -> {path} (HF_HOME={os.environ.get('HF_HOME', '~/.cache/huggingface')})")


if __name__ == "__main__":
    main()
