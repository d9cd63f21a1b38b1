"""``POST /v1/classify``, ``/v1/caption`` and ``/v1/ocr`` of the vision service (``/v1/embed`` and ``/v1/models``
are the kernel's, over :func:`read_embed`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from servekit.app import current_settings
from servekit.errors import InvalidInput
from servekit.items import per_item_data
from servekit.models import current_pool
from services.vision.dispatch import run_images
from services.vision.intake import IMAGE_INTAKE, ImageIntake, ImageRequest
from services.vision.items import Generation, ImageItem, Label, OcrResult
from services.vision.settings import VisionSettings

bp = Blueprint("vision", __name__, url_prefix="/v1")


class ModelParams(BaseModel):
    """What every image route takes besides the images: which model (default: the first that serves the task)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, min_length=1)


class ClassifyParams(ModelParams):
    top_k: int | None = Field(None, ge=1, le=1000)


class CaptionParams(ModelParams):
    max_new_tokens: int | None = Field(None, ge=1)
    num_beams: int | None = Field(None, ge=1)


def _intake() -> ImageIntake:
    return IMAGE_INTAKE.current()


def _model(task: str, requested: str | None) -> str:
    return current_pool().resolve(requested, task)


def _serve(task: str, request: ImageRequest, model: str, make_item: Callable[[Image.Image], ImageItem],
           render: Callable[[Any], dict[str, Any]]) -> Response:
    param = "file" if request.sources[0].param.startswith("file") else "input"
    images = _intake().decode(request.sources)
    results = run_images(current_pool(), model, task, images, make_item)
    return jsonify(object="list", model=model, data=per_item_data(results, render, param=param))


@bp.post("/classify")
def classify() -> ResponseReturnValue:
    request = _intake().read()
    params = request.parse_params(ClassifyParams)
    top_k = params.top_k or current_settings(VisionSettings).classify_top_k
    return _serve("classify", request, _model("classify", params.model),
                  lambda image: ImageItem(image, top_k=top_k), _render_labels)


@bp.post("/caption")
def caption() -> ResponseReturnValue:
    request = _intake().read()
    params = request.parse_params(CaptionParams)
    generation = _generation(params, current_settings(VisionSettings))
    return _serve("caption", request, _model("caption", params.model),
                  lambda image: ImageItem(image, generation=generation), lambda text: {"caption": text})


@bp.post("/ocr")
def ocr() -> ResponseReturnValue:
    request = _intake().read()
    params = request.parse_params(ModelParams)
    return _serve("ocr", request, _model("ocr", params.model), ImageItem, _render_ocr)


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
