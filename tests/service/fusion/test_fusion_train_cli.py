"""``python -m services.fusion.training``: labelled examples from a JSON-lines file, encoded by the real text and
vision services' clients, saved as the next head version under the data directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.fusion.heads import HeadRegistry
from services.fusion.training import main, read_examples
from tests.conftest import TEXT_TOKEN
from tests.support.processes import dead_url

EXAMPLES = [("hot tea", "drinks"), ("cold lemonade", "drinks"), ("a football match", "sports"),
            ("the tennis final", "sports")]


def _write(path: Path, lines: list[dict[str, str]]) -> Path:
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_cli_trains_and_saves_the_next_version(text_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FUSION_TEXT_URL", text_url)
    monkeypatch.setenv("FUSION_VISION_URL", dead_url())
    monkeypatch.setenv("FUSION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("POLYSERVE_INTERNAL_TOKEN", TEXT_TOKEN)
    examples = _write(tmp_path / "examples.jsonl", [{"text": t, "label": label} for t, label in EXAMPLES])
    assert main(["--name", "topics", "--examples", str(examples), "--epochs", "10"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["id"] == "topics@v1" and printed["labels"] == ["drinks", "sports"]
    assert main(["--name", "topics", "--examples", str(examples), "--epochs", "10"]) == 0
    registry = HeadRegistry(tmp_path / "data" / "heads")
    registry.load_all()
    assert [h.version for h in registry.list()] == [1, 2]


def test_cli_reports_unusable_examples(text_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FUSION_TEXT_URL", text_url)
    monkeypatch.setenv("FUSION_VISION_URL", dead_url())
    monkeypatch.setenv("FUSION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("POLYSERVE_INTERNAL_TOKEN", TEXT_TOKEN)
    one_label = _write(tmp_path / "one.jsonl", [{"text": "a", "label": "x"}, {"text": "b", "label": "x"}])
    assert main(["--name", "topics", "--examples", str(one_label)]) == 1
    assert "two different labels" in capsys.readouterr().err
    needs_vision = _write(tmp_path / "photo.jsonl", [{"image": "aGVsbG8=", "label": "x"}, {"text": "b", "label": "y"}])
    assert main(["--name", "topics", "--examples", str(needs_vision)]) == 1
    assert "image modality is unavailable" in capsys.readouterr().err


def test_examples_file_reads_media_paths_relative_to_itself(tmp_path: Path) -> None:
    (tmp_path / "clip.wav").write_bytes(b"RIFF....WAVE")
    examples = _write(tmp_path / "e.jsonl", [{"audio_path": "clip.wav", "text": "hi", "label": "greeting"}])
    ((inputs, label),) = read_examples(examples)
    assert label == "greeting" and inputs.text == "hi" and inputs.audio == "UklGRi4uLi5XQVZF"
    with pytest.raises(ValueError, match="needs a label"):
        read_examples(_write(tmp_path / "bad.jsonl", [{"text": "no label"}]))
