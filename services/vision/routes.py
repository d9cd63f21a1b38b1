"""``POST /v1/embed``, ``/v1/classify``, ``/v1/caption``, ``/v1/ocr`` and ``GET /v1/models`` of the vision service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, jsonify
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from servekit.app import current_settings
from servekit.embeddings import EncodingFormat, check_dimensions, embedding_response
from servekit.errors import InvalidInput, ModelNotFound, ModelNotReady
from servekit.items import per_item_data, raise_first_failure
from servekit.models import current_pool
from services.vision.dispatch import run_images
from services.vision.intake import ImageIntake, ImageRequest
from services.vision.jobs import Generation, ImageJob, Label, OcrResult
from services.vision.settings import VisionSettings

bp = Blueprint("vision", __name__, url_prefix="/v1")


class ModelParams(BaseModel):
    """What every image route takes besides the images: which model (default: the first that serves the task)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, min_length=1)


class EmbedParams(ModelParams):
    encoding_format: EncodingFormat = "float"
    dimensions: int | None = Field(None, ge=1)


class ClassifyParams(ModelParams):
    top_k: int | None = Field(None, ge=1, le=1000)


class CaptionParams(ModelParams):
    max_new_tokens: int | None = Field(None, ge=1)
    num_beams: int | None = Field(None, ge=1)


def _intake() -> ImageIntake:
    intake: ImageIntake = current_app.extensions["image_intake"]
    return intake


def _model(task: str, requested: str | None) -> str:
    """The requested model (checked to serve ``task``) or the first configured one that does."""
    pool = current_pool()
    if requested is None:
        try:
            requested = pool.default_model(task)
        except ModelNotReady:
            if pool.ready:  # everything is loaded and none of it serves this task
                raise ModelNotFound(f"no configured model serves {task}", param="model") from None
            raise
    pool.backend(requested, task)
    return requested


def _serve(task: str, request: ImageRequest, model: str, make_job: Callable[[Image.Image], ImageJob],
           render: Callable[[Any], dict[str, Any]]) -> Any:
    param = "file" if request.sources[0].param.startswith("file") else "input"
    images = _intake().decode(request.sources)
    results = run_images(current_pool(), model, task, images, make_job)
    return jsonify(object="list", model=model, data=per_item_data(results, render, param=param))


@bp.post("/embed")
def embed() -> Any:
    request = _intake().read()
    params = request.parse_params(EmbedParams)
    name = _model("embed", params.model)
    backend = current_pool().backend(name, "embed")
    info = backend.info()
    check_dimensions(params.dimensions, info["dimensions"], info["truncatable"], name)
    results = run_images(current_pool(), name, "embed", _intake().decode(request.sources), ImageJob)
    raise_first_failure(results)
    return jsonify(embedding_response(results, model=name, space=backend.space,
                                      encoding_format=params.encoding_format, dimensions=params.dimensions))


@bp.post("/classify")
def classify() -> Any:
    request = _intake().read()
    params = request.parse_params(ClassifyParams)
    top_k = params.top_k or current_settings().classify_top_k
    return _serve("classify", request, _model("classify", params.model),
                  lambda image: ImageJob(image, top_k=top_k), _render_labels)


@bp.post("/caption")
def caption() -> Any:
    request = _intake().read()
    params = request.parse_params(CaptionParams)
    generation = _generation(params, current_settings())
    return _serve("caption", request, _model("caption", params.model),
                  lambda image: ImageJob(image, generation=generation), lambda text: {"caption": text})


@bp.post("/ocr")
def ocr() -> Any:
    request = _intake().read()
    params = request.parse_params(ModelParams)
    return _serve("ocr", request, _model("ocr", params.model), ImageJob, _render_ocr)


@bp.get("/models")
def models() -> Any:
    return jsonify(object="list", data=current_pool().list_models())


def _generation(params: CaptionParams, settings: VisionSettings) -> Generation:
    """Requested caption bounds, refused (not clipped) past the configured limits."""
    tokens = params.max_new_tokens or settings.caption_max_new_tokens
    beams = params.num_beams or settings.caption_num_beams
    if tokens > settings.caption_max_new_tokens_limit:
        raise InvalidInput(f"max_new_tokens may be at most {settings.caption_max_new_tokens_limit}",
                           param="max_new_tokens", code="limit_exceeded")
    if beams > settings.caption_num_beams_limit:
        raise InvalidInput(f"num_beams may be at most {settings.caption_num_beams_limit}", param="num_beams",
                           code="limit_exceeded")
    return Generation(max_new_tokens=tokens, num_beams=beams)


def _render_labels(labels: list[Label]) -> dict[str, Any]:
    return {"labels": [{"label": item.label, "score": item.score} for item in labels]}


def _render_ocr(result: OcrResult) -> dict[str, Any]:
    return {"text": result.text,
            "lines": [{"text": line.text, "confidence": line.confidence, "box": line.box} for line in result.lines]}
