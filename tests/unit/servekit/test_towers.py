"""One tower of a joint checkpoint loads with the checkpoint's projection size, not a stale sub-config default."""

from __future__ import annotations

import json

from servekit.towers import tower_config
from tests.support.tiny_models import tiny_clip_dir


def test_sub_config_takes_the_joint_projection_size() -> None:
    folder = tiny_clip_dir()
    saved = json.loads((folder / "config.json").read_text())
    assert saved["projection_dim"] == 16 and saved["vision_config"].get("projection_dim", 512) != 16
    vision, text = tower_config(str(folder), "vision_config"), tower_config(str(folder), "text_config")
    assert (type(vision).__name__, vision.projection_dim) == ("CLIPVisionConfig", 16)
    assert (type(text).__name__, text.projection_dim) == ("CLIPTextConfig", 16)


def test_a_single_tower_folder_is_returned_unchanged(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from transformers import CLIPVisionConfig

    CLIPVisionConfig(hidden_size=32, num_attention_heads=4, projection_dim=24).save_pretrained(tmp_path)
    config = tower_config(str(tmp_path), "vision_config")
    assert (type(config).__name__, config.projection_dim, config.hidden_size) == ("CLIPVisionConfig", 24, 32)
