"""Fusion heads: train one from labelled examples (``POST``), list the trained versions (``GET``)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from servekit.validation import parse_json
from services.fusion.runtime import runtime
from services.fusion.schemas import TrainHeadRequest
from services.fusion.training import train_from_examples

bp = Blueprint("fusion_heads", __name__, url_prefix="/v1/fusion/heads")


@bp.post("")
def train() -> ResponseReturnValue:
    body = parse_json(TrainHeadRequest)
    examples = [(example.inputs(), example.label) for example in body.examples]
    head = train_from_examples(runtime(), body.name, examples, body.epochs)
    return jsonify(head.describe()), 201


@bp.get("")
def list_heads() -> ResponseReturnValue:
    return jsonify(object="list", data=[head.describe() for head in runtime().heads.list()])


@bp.get("/<reference>")
def get_head(reference: str) -> ResponseReturnValue:
    return jsonify(runtime().heads.get(reference).describe())
