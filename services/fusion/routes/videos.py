"""Videos of a collection: upload one as an ingest job (``POST .../videos``, 202), follow the job
(``GET .../video_jobs/<job_id>``), list a video's segments (``GET .../videos/<video_id>``), delete them all."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from servekit.errors import NotFound
from services.fusion.runtime import FusionRuntime, runtime
from services.fusion.video.decoding import probe
from services.fusion.video.intake import VIDEO_ID, receive_video
from services.fusion.video.jobs import VIDEO_JOBS, VideoJobs, limits_of
from services.fusion.video.segments import describe_segment, find_segments

bp = Blueprint("fusion_videos", __name__, url_prefix="/v1/collections")


def _jobs() -> VideoJobs:
    return VIDEO_JOBS.current()


@bp.before_request
def _allow_video_uploads() -> None:
    """Video uploads may be larger than other requests (FUSION_VIDEO_MAX_UPLOAD_BYTES)."""
    if request.method == "POST" and request.endpoint == "fusion_videos.upload_video":
        request.max_content_length = runtime().settings.video_max_upload_bytes


@bp.post("/<name>/videos")
def upload_video(name: str) -> ResponseReturnValue:
    rt = runtime()
    rt.store.require(name)
    jobs = _jobs()
    folder = jobs.new_folder()
    try:
        upload = receive_video(folder.video)
        probe(folder.video, limits_of(rt), upload.param)
        job = jobs.submit(folder, name, upload.params.video_id, upload.params.metadata, upload.params.allow_degraded,
                          upload.filename)
    except BaseException:
        folder.remove()
        raise
    response = jsonify(job.describe())
    response.status_code = 202
    response.headers["Location"] = f"/v1/collections/{name}/video_jobs/{job.id}"
    return response


@bp.get("/<name>/video_jobs/<job_id>")
def video_job(name: str, job_id: str) -> ResponseReturnValue:
    return jsonify(_jobs().get(name, job_id).describe())


def _segments(rt: FusionRuntime, name: str, video_id: str) -> list[dict[str, Any]]:
    """The video's stored segments in time order."""
    listed = []
    for record in find_segments(rt.store, name, video_id).values():
        segment = describe_segment(record)
        if segment is not None:
            listed.append({"id": record.id, **segment, "text": record.content.get("text"),
                           "derived": record.content.get("derived", {}), "metadata": record.metadata})
    return sorted(listed, key=lambda s: float(s["start_s"] or 0.0))


def _not_found(name: str, video_id: str) -> NotFound:
    return NotFound(f"no video {video_id!r} in collection {name!r}", param="video_id", code="video_not_found")


def _require_possible_id(name: str, video_id: str) -> None:
    """An id no upload could have given names no video: 404 without a store query."""
    if re.fullmatch(VIDEO_ID, video_id) is None:
        raise _not_found(name, video_id)


@bp.get("/<name>/videos/<video_id>")
def get_video(name: str, video_id: str) -> ResponseReturnValue:
    rt = runtime()
    rt.store.require(name)
    _require_possible_id(name, video_id)
    segments = _segments(rt, name, video_id)
    jobs = _jobs().of_video(name, video_id)
    if not segments and not jobs:
        raise _not_found(name, video_id)
    return jsonify(object="video", id=video_id, collection=name, segments=segments,
                   duration_s=max((s["end_s"] for s in segments), default=None),
                   job=jobs[0].describe() if jobs else None)


@bp.delete("/<name>/videos/<video_id>")
def delete_video(name: str, video_id: str) -> ResponseReturnValue:
    rt = runtime()
    rt.store.require(name)
    _require_possible_id(name, video_id)
    jobs = _jobs()
    known = bool(jobs.of_video(name, video_id))
    jobs.cancel_video(name, video_id)
    deleted = jobs.delete_segments(name, video_id)
    if not deleted and not known:
        raise _not_found(name, video_id)
    return jsonify(object="video.deleted", id=video_id, collection=name, segments_deleted=deleted, deleted=True)
