"""One tower of a two-tower checkpoint (CLIP, CLAP, ...) loaded on its own, with the joint projection size.

A joint checkpoint keeps the shared ``projection_dim`` at its top level; its ``text_config`` and
``vision_config`` (or ``audio_config``) may carry a stale default instead. Loading a single tower with such a
sub-config fails on the projection's shape, so the top-level value is copied down first.
"""

from __future__ import annotations

from typing import Any


def tower_config(source: str, part: str) -> Any:
    """The ``part`` sub-config (``"text_config"``, ``"vision_config"``...) of ``source``, ready for one tower.

    A folder that already holds a single tower's config is returned unchanged.
    """
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source)
    tower = getattr(config, part, None)
    if tower is None:
        return config
    projection = getattr(config, "projection_dim", None)
    if projection is not None:
        tower.projection_dim = projection
    return tower
