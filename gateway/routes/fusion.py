"""Public routes for fusion, collections, retrieval and classification (fusion helper).

Each route checks that a JSON body is JSON, then forwards the request as is to the fusion service, which
validates it; the fusion service's answer (or its error) comes back unchanged. A video upload is forwarded as it
came: a multipart ``file`` with its form fields, or the raw video with its query parameters.
"""

from __future__ import annotations

from urllib.parse import quote

import requests
from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from gateway.upstreams import upstream
from servekit.uploads import is_multipart, is_raw_video, raw_body, unsupported_video, uploaded_files
from servekit.validation import require_json

bp = Blueprint("fusion", __name__, url_prefix="/v1")


def _relay(answer: requests.Response) -> Response:
    response = Response(answer.content, status=answer.status_code, mimetype="application/json")
    if "Location" in answer.headers:
        response.headers["Location"] = answer.headers["Location"]
    return response


def _forward(method: str, path: str) -> Response:
    body = require_json() if method == "POST" else None
    return _relay(upstream("fusion").request(method, path, json=body, params=request.args or None))


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


@bp.post("/collections/<name>/videos")
def upload_video(name: str) -> ResponseReturnValue:
    """202 with the ingest job; the body may be as large as a job submission (GATEWAY_JOB_MAX_BODY_BYTES)."""
    path = f"/v1/collections/{_segment(name)}/videos"
    fusion = upstream("fusion")
    if is_multipart():
        parts = [(part.filename or "video", part.stream, part.mimetype or "application/octet-stream")
                 for part in uploaded_files()]
        return _relay(fusion.request("POST", path, files=[("file", part) for part in parts],
                                     data={key: values for key, values in request.form.lists()}))
    if is_raw_video():
        return _relay(fusion.request("POST", path, data=raw_body(), params=request.args.to_dict(flat=False),
                                     headers={"Content-Type": request.mimetype}))
    raise unsupported_video()


@bp.route("/collections/<name>/videos/<video_id>", methods=["GET", "DELETE"])
def video(name: str, video_id: str) -> ResponseReturnValue:
    return _forward(request.method, f"/v1/collections/{_segment(name)}/videos/{_segment(video_id)}")


@bp.get("/collections/<name>/video_jobs/<job_id>")
def video_job(name: str, job_id: str) -> ResponseReturnValue:
    return _forward("GET", f"/v1/collections/{_segment(name)}/video_jobs/{_segment(job_id)}")


@bp.post("/collections/<name>/search")
def search(name: str) -> ResponseReturnValue:
    return _forward("POST", f"/v1/collections/{_segment(name)}/search")


@bp.route("/fusion/heads", methods=["GET", "POST"])
def heads() -> ResponseReturnValue:
    return _forward(request.method, "/v1/fusion/heads")


@bp.get("/fusion/heads/<reference>")
def head(reference: str) -> ResponseReturnValue:
    return _forward("GET", f"/v1/fusion/heads/{_segment(reference)}")
