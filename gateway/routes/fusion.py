"""Public routes for fusion, collections, retrieval and classification (fusion helper).

Each route checks that a JSON body is JSON, then forwards the request as is to the fusion service, which
validates it; the fusion service's answer (or its error) comes back unchanged.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from gateway.upstreams import upstream
from servekit.validation import require_json

bp = Blueprint("fusion", __name__, url_prefix="/v1")


def _forward(method: str, path: str) -> Response:
    body = require_json() if method == "POST" else None
    answer = upstream("fusion").request(method, path, json=body, params=request.args or None)
    return Response(answer.content, status=answer.status_code, mimetype="application/json")


def _segment(value: str) -> str:
    return quote(value, safe="")


@bp.post("/fuse")
def fuse() -> ResponseReturnValue:
    return _forward("POST", "/v1/fuse")


@bp.post("/classifications")
def classifications() -> ResponseReturnValue:
    return _forward("POST", "/v1/classifications")


@bp.route("/collections", methods=["GET", "POST"])
def collections() -> ResponseReturnValue:
    return _forward(request.method, "/v1/collections")


@bp.route("/collections/<name>", methods=["GET", "DELETE"])
def collection(name: str) -> ResponseReturnValue:
    return _forward(request.method, f"/v1/collections/{_segment(name)}")


@bp.route("/collections/<name>/items", methods=["GET", "POST"])
def items(name: str) -> ResponseReturnValue:
    return _forward(request.method, f"/v1/collections/{_segment(name)}/items")


@bp.route("/collections/<name>/items/<path:item_id>", methods=["GET", "DELETE"])
def item(name: str, item_id: str) -> ResponseReturnValue:
    return _forward(request.method, f"/v1/collections/{_segment(name)}/items/{_segment(item_id)}")


@bp.post("/collections/<name>/ingest")
def ingest(name: str) -> ResponseReturnValue:
    return _forward("POST", f"/v1/collections/{_segment(name)}/ingest")


@bp.get("/collections/<name>/ingest/<job_id>")
def ingest_job(name: str, job_id: str) -> ResponseReturnValue:
    return _forward("GET", f"/v1/collections/{_segment(name)}/ingest/{_segment(job_id)}")


@bp.post("/collections/<name>/search")
def search(name: str) -> ResponseReturnValue:
    return _forward("POST", f"/v1/collections/{_segment(name)}/search")


@bp.route("/fusion/heads", methods=["GET", "POST"])
def heads() -> ResponseReturnValue:
    return _forward(request.method, "/v1/fusion/heads")


@bp.get("/fusion/heads/<reference>")
def head(reference: str) -> ResponseReturnValue:
    return _forward("GET", f"/v1/fusion/heads/{_segment(reference)}")
