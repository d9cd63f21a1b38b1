"""Request bodies of the fusion API, validated by pydantic into clear 400s."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from servekit.catalog import Modality
from servekit.validation import NOT_BLANK, is_blank
from services.fusion.indexed import KEY as INDEXED_KEY
from services.fusion.indexed import KINDS, MAX_INDEXED
from services.fusion.inputs import Inputs
from services.fusion.rerank import RerankStage
from services.fusion.strategies import LateMethod, Strategy

MAX_TEXT_CHARS = 20_000
MAX_METADATA_BYTES = 16_384
# The same rules as the store's and the heads' own checks, so that the OpenAPI document states them.
COLLECTION_NAME = r"^[a-z0-9](?:[a-z0-9]|_(?!_)){0,62}$"
ITEM_ID = r"^[^\"'\\\x00-\x1f\x7f]{1,256}$"
HEAD_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$"
DEFAULT_MAX_TOP_K = 1000
_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean"]}
# The metadata filter language of services/fusion/filters.py, as JSON Schema (the OpenAPI document shows it).
FILTER_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"},
    "additionalProperties": {"anyOf": [_SCALAR, {
        "type": "object", "minProperties": 1, "additionalProperties": False,
        "properties": {**{op: _SCALAR for op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")},
                       **{op: {"type": "array", "minItems": 1, "items": _SCALAR} for op in ("$in", "$nin")}},
    }]},
}


INT64 = range(-(2**63), 2**63)


def storable(value: Any) -> Any:
    """A JSON value the store's JSON can hold: integers past 64 bits become floats, as most JSON parsers (and
    every JavaScript client) read them anyway."""
    if isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
        return float(value)
    if isinstance(value, dict):
        return {k: storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


class Strict(BaseModel):
    """JSON bodies: no extra fields, no type coercion ("3" is not 3), no NaN or infinities."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, regex_engine="python-re")


def _some_modality(schema: dict[str, Any]) -> None:
    schema["anyOf"] = [{"required": [m], "properties": {m: {"type": "string"}}} for m in ("text", "image", "audio")]


class InputModel(Strict):
    """Any mix of modalities; image and audio are base64 strings or data: URIs."""

    model_config = ConfigDict(json_schema_extra=_some_modality)

    text: str | None = Field(None, min_length=1, max_length=MAX_TEXT_CHARS, pattern=NOT_BLANK)
    image: str | None = Field(None, min_length=1)
    audio: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_modality_at_least(self) -> InputModel:
        if self.text is None and self.image is None and self.audio is None:
            raise ValueError("give at least one of text, image or audio")
        if self.text is not None and is_blank(self.text):
            raise ValueError("text is blank")
        return self

    def inputs(self) -> Inputs:
        return Inputs(self.text, self.image, self.audio)


class FusionParams(Strict):
    strategy: Strategy = "intermediate"
    method: LateMethod = Field("weighted_sum", description="How late fusion combines per-modality scores.")
    weights: dict[Modality, Annotated[float, Field(ge=0)]] = Field(default_factory=dict)
    head: str | None = Field(None, min_length=1, description="A trained fusion head (name or name@vN).")
    allow_degraded: bool = Field(False, description="Skip a modality whose encoder is down instead of failing.")

    @model_validator(mode="after")
    def _weights_not_negative(self) -> FusionParams:
        if any(w < 0 for w in self.weights.values()):
            raise ValueError("weights must not be negative")
        return self


def _late_needs_scores(schema: dict[str, Any]) -> None:
    schema["if"] = {"required": ["strategy"], "properties": {"strategy": {"const": "late"}}}
    schema["then"] = {"required": ["scores"], "properties": {"scores": {"type": "object"}}}
    schema["else"] = {"required": ["input"], "properties": {"input": {"type": "object"}}}


class FuseRequest(FusionParams):
    model_config = ConfigDict(json_schema_extra=_late_needs_scores)

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
    # Patterns the store and the head registry check with codes of their own (invalid_collection_name, ...):
    # stated in the schema, enforced there.
    name: str = Field(min_length=1, max_length=63, json_schema_extra={"pattern": COLLECTION_NAME})
    description: str = Field("", max_length=2000)
    indexed: dict[str, str] = Field(default_factory=dict, description="Metadata keys filters use often -> "
                                    "string, int or float: kept in typed columns under a scalar index.",
                                    json_schema_extra={"propertyNames": {"pattern": INDEXED_KEY.pattern},
                                                       "maxProperties": MAX_INDEXED,
                                                       "additionalProperties": {"enum": list(KINDS)}})


class ItemModel(InputModel):
    id: str = Field(min_length=1, max_length=256, json_schema_extra={"pattern": ITEM_ID})
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _metadata_small(self) -> ItemModel:
        if len(json.dumps(self.metadata)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes of JSON")
        self.metadata = storable(self.metadata)
        return self


class UpsertItems(Strict):
    items: list[ItemModel] = Field(min_length=1)
    allow_degraded: bool = False


class SearchRequest(FusionParams):
    query: InputModel
    top_k: int = Field(10, ge=1, json_schema_extra={"maximum": DEFAULT_MAX_TOP_K},
                       description="At most FUSION_MAX_TOP_K (default 1000).")
    filter: dict[str, Any] | None = Field(None, json_schema_extra=FILTER_SCHEMA)
    rerank: RerankStage | None = Field(None, description="Reorder the best candidates with a cross-encoder.")
    group_by: Literal["video"] | None = Field(
        None, description="video: one entry per video (its best segments, FUSION_VIDEO_GROUP_SIZE of them) "
        "instead of one per segment; top_k then counts videos.")


class ClassifyRequest(FusionParams):
    input: InputModel
    labels: list[Annotated[str, Field(pattern=NOT_BLANK)]] = Field(min_length=1, max_length=1000,
                                                                   json_schema_extra={"uniqueItems": True})

    @model_validator(mode="after")
    def _labels_usable(self) -> ClassifyRequest:
        if any(is_blank(label) for label in self.labels):
            raise ValueError("labels must not be blank")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be unique")
        return self


class ExampleModel(InputModel):
    label: str = Field(min_length=1, max_length=500, pattern=NOT_BLANK)


class TrainHeadRequest(Strict):
    name: str = Field(min_length=1, max_length=63, json_schema_extra={"pattern": HEAD_NAME})
    examples: list[ExampleModel] = Field(min_length=2)
    epochs: int | None = Field(None, ge=1, le=10_000)
