"""Request bodies of the fusion API, validated by pydantic into clear 400s."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from servekit.catalog import Modality
from services.fusion.features import Inputs
from services.fusion.rerank import RerankStage
from services.fusion.strategies import LateMethod, Strategy

MAX_TEXT_CHARS = 20_000
MAX_METADATA_BYTES = 16_384


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputModel(Strict):
    """Any mix of modalities; image and audio are base64 strings or data: URIs."""

    text: str | None = Field(None, min_length=1, max_length=MAX_TEXT_CHARS)
    image: str | None = Field(None, min_length=1)
    audio: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_modality_at_least(self) -> InputModel:
        if self.text is None and self.image is None and self.audio is None:
            raise ValueError("give at least one of text, image or audio")
        if self.text is not None and not self.text.strip():
            raise ValueError("text is blank")
        return self

    def inputs(self) -> Inputs:
        return Inputs(self.text, self.image, self.audio)


class FusionParams(Strict):
    strategy: Strategy = "intermediate"
    method: LateMethod = Field("weighted_sum", description="How late fusion combines per-modality scores.")
    weights: dict[Modality, float] = Field(default_factory=dict)
    head: str | None = Field(None, min_length=1, description="A trained fusion head (name or name@vN).")
    allow_degraded: bool = Field(False, description="Skip a modality whose encoder is down instead of failing.")

    @model_validator(mode="after")
    def _weights_not_negative(self) -> FusionParams:
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("weights must not be negative")
        return self


class FuseRequest(FusionParams):
    input: InputModel | None = None
    scores: dict[str, dict[str, float]] | None = Field(
        None, description="Late fusion of given scores: modality (or any source) -> candidate -> score.")
    encoding_format: Literal["float", "base64"] = "float"
    top_k: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _input_or_scores(self) -> FuseRequest:
        if self.strategy == "late" and self.scores is None:
            raise ValueError("late fusion combines scores: give 'scores'")
        if self.strategy != "late" and self.input is None:
            raise ValueError(f"{self.strategy} fusion builds a vector: give 'input'")
        return self


class CreateCollection(Strict):
    name: str = Field(min_length=1, max_length=63)
    description: str = Field("", max_length=2000)
    indexed: dict[str, str] = Field(default_factory=dict, description="Metadata keys filters use often -> "
                                    "string, int or float: kept in typed columns under a scalar index.")


class ItemModel(InputModel):
    id: str = Field(min_length=1, max_length=256)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _metadata_small(self) -> ItemModel:
        if len(json.dumps(self.metadata)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes of JSON")
        return self


class UpsertItems(Strict):
    items: list[ItemModel] = Field(min_length=1)
    allow_degraded: bool = False


class SearchRequest(FusionParams):
    query: InputModel
    top_k: int = Field(10, ge=1)
    filter: dict[str, Any] | None = None
    rerank: RerankStage | None = Field(None, description="Reorder the best candidates with a cross-encoder.")


class ClassifyRequest(FusionParams):
    input: InputModel
    labels: list[str] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _labels_usable(self) -> ClassifyRequest:
        if any(not label.strip() for label in self.labels):
            raise ValueError("labels must not be blank")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        return self


class ExampleModel(InputModel):
    label: str = Field(min_length=1, max_length=500)


class TrainHeadRequest(Strict):
    name: str = Field(min_length=1, max_length=63)
    examples: list[ExampleModel] = Field(min_length=2)
    epochs: int | None = Field(None, ge=1, le=10_000)
