"""Asynchronous jobs on an rq queue in Redis: long work is submitted, answered 202 at once, and run by
``python -m gateway.worker``.

A job is a deferred request to a public route: ``POST /v1/jobs/audio/transcriptions`` takes exactly what
``POST /v1/audio/transcriptions`` takes (same body, same scope), and its result is what that route answers.
Jobs live in Redis, so they outlive gateway restarts; a failed job keeps its reason, a finished one its result,
for ``GATEWAY_JOB_RESULT_TTL_S``. Only the caller who submitted a job (or an ``admin``) can see or cancel it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import redis
from flask import Blueprint, Flask, Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from rq import Queue
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from gateway.auth import is_admin
from gateway.job_attempts import SERVER_FAULT, attempts_of, retry_policy
from gateway.job_intake import check_submission
from gateway.scopes import JOBS_PREFIX
from gateway.settings import GatewaySettings
from servekit.app import current_settings
from servekit.errors import Conflict, InvalidInput, NotFound, UpstreamUnavailable
from servekit.slots import AppSlot

# The routes whose work can be deferred; each gets ``POST /v1/jobs/<route without /v1/>``.
JOB_TARGETS: tuple[str, ...] = ("/v1/audio/transcriptions", "/v1/embeddings", "/v1/collections/<name>/items")
WORKER_FUNCTION = "gateway.worker.run_job"
JOB_QUEUE: AppSlot[Queue] = AppSlot("job_queue")
PUBLIC_STATUS = {
    JobStatus.QUEUED: "queued", JobStatus.DEFERRED: "queued", JobStatus.SCHEDULED: "queued",
    JobStatus.STARTED: "running", JobStatus.FINISHED: "succeeded", JobStatus.FAILED: "failed",
    JobStatus.STOPPED: "canceled", JobStatus.CANCELED: "canceled",
}


class JobsUnavailable(UpstreamUnavailable):
    code = "jobs_unavailable"


def job_path(target: str) -> str:
    return JOBS_PREFIX + target[len("/v1"):]


def build_queue(settings: GatewaySettings) -> Queue | None:
    if not settings.redis_url:
        return None
    connection = redis.Redis.from_url(settings.redis_url, socket_timeout=5.0, socket_connect_timeout=2.0)
    return Queue(settings.jobs_queue, connection=connection)


def _queue() -> Queue:
    queue = JOB_QUEUE.current_or_none()
    if queue is None:
        raise JobsUnavailable("asynchronous jobs need Redis: set GATEWAY_REDIS_URL and run `python -m gateway.worker`")
    return queue


def _settings() -> GatewaySettings:
    return current_settings(GatewaySettings)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _error_of(job: Job, status: JobStatus) -> dict[str, Any] | None:
    """The failure reason the worker recorded; a worker that died mid-job leaves none, and says so."""
    if status != JobStatus.FAILED:
        return None
    recorded = job.meta.get("error")
    if isinstance(recorded, dict):
        return recorded
    if "JobTimeoutException" in (job.exc_info or ""):
        return {"type": SERVER_FAULT, "code": "job_timeout",
                "message": "the job ran past GATEWAY_JOB_TIMEOUT_S and was stopped"}
    return {"type": SERVER_FAULT, "code": "worker_lost",
            "message": "the workers running the job stopped before it finished, on every attempt"}


def _current_status(job: Job) -> JobStatus:
    """A job whose whole worker died stays "started" until its heartbeat expires (about a minute); rq puts such
    jobs back in the queue (or, after their last attempt, fails them) in its periodic maintenance, so do it when
    someone asks."""
    status = job.get_status(refresh=True) or JobStatus.QUEUED
    if status == JobStatus.STARTED:
        job.started_job_registry.cleanup()
        status = job.get_status(refresh=True) or JobStatus.QUEUED
    return status


def describe(job: Job) -> dict[str, Any]:
    status = _current_status(job)
    doc: dict[str, Any] = {
        "id": job.id, "object": "job", "route": job.meta.get("route"), "status": PUBLIC_STATUS.get(status, "queued"),
        "created_at": _iso(job.created_at), "started_at": _iso(job.started_at), "finished_at": _iso(job.ended_at),
        "status_url": f"{JOBS_PREFIX}/{job.id}", "result_url": f"{JOBS_PREFIX}/{job.id}/result",
    }
    doc.update(attempts_of(job))
    error = _error_of(job, status)
    if error is not None:
        doc["error"] = error
    return doc


def _owned_job(job_id: str) -> Job:
    """The job, if the caller may see it; 404 otherwise (another caller's job is indistinguishable from none)."""
    queue = _queue()
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except (NoSuchJobError, ValueError):
        raise NotFound(f"no job {job_id!r}", param="job_id", code="job_not_found") from None
    except redis.RedisError:
        raise JobsUnavailable("the job store is unreachable") from None
    if job.meta.get("owner") != g.get("principal") and not is_admin():
        raise NotFound(f"no job {job_id!r}", param="job_id", code="job_not_found")
    return job


def submit(target: str) -> Any:
    """Queue the request for ``target`` (the concrete path) as it came (body, content type, query string)."""
    queue, settings = _queue(), _settings()
    body = request.get_data(cache=False)
    if not body:
        raise InvalidInput("the job request has no body", code="empty_body")
    work = {"route": target, "content_type": request.headers.get("Content-Type", ""),
            "query": request.query_string.decode("latin-1"), "body": body}
    try:
        job = queue.enqueue(
            WORKER_FUNCTION, work, job_timeout=int(settings.job_timeout_s) + 30,
            result_ttl=settings.job_result_ttl_s, failure_ttl=settings.job_result_ttl_s,
            description=f"POST {target}", retry=retry_policy(settings.job_max_attempts),
            meta={"owner": g.get("principal"), "route": target, "max_attempts": settings.job_max_attempts},
        )
    except redis.RedisError:
        raise JobsUnavailable("the job queue is unreachable") from None
    response = jsonify(describe(job))
    response.status_code = 202
    response.headers["Location"] = f"{JOBS_PREFIX}/{job.id}"
    return response


# Routes that start a job of their upstream's own (a video ingested by the fusion service) take large bodies too.
LARGE_UPLOAD_ENDPOINTS = frozenset({"fusion.upload_video"})


def allow_large_job_bodies(settings: GatewaySettings) -> Any:
    """Job submissions may be larger than synchronous requests (long recordings, bulk ingest, videos)."""

    def hook() -> None:
        if request.method == "POST" and (request.path.startswith(JOBS_PREFIX + "/")
                                         or request.endpoint in LARGE_UPLOAD_ENDPOINTS):
            request.max_content_length = settings.job_max_body_bytes

    return hook


def _submit_view(target: str) -> Any:
    """A named view per deferred route (the rate limiter keys its counters by view name)."""

    def view(**_: str) -> Any:
        concrete = "/v1" + request.path[len(JOBS_PREFIX):]
        request.get_data(cache=True)  # kept for the queue: the checks below may read the stream
        check_submission(target, concrete)
        return submit(concrete)

    view.__name__ = view.__qualname__ = "submit" + re.sub(r"\W+", "_", target)
    return view


bp = Blueprint("jobs", __name__)

for _target in JOB_TARGETS:
    bp.add_url_rule(job_path(_target), view_func=_submit_view(_target), methods=["POST"])


@bp.get(JOBS_PREFIX + "/<job_id>")
def job_status(job_id: str) -> ResponseReturnValue:
    return jsonify(describe(_owned_job(job_id)))


@bp.get(JOBS_PREFIX + "/<job_id>/result")
def job_result(job_id: str) -> Response:
    """The target route's answer, as that route gave it; 409 while the job is not done or after it failed."""
    job = _owned_job(job_id)
    doc = describe(job)
    if doc["status"] == "failed":
        error = doc["error"]
        raise Conflict(f"the job failed: {error['message']}", code="job_failed")
    if doc["status"] != "succeeded":
        raise Conflict(f"the job is {doc['status']}; its result is not ready", code="job_not_finished",
                       headers={"Retry-After": "2"})
    result = job.return_value()
    if not isinstance(result, dict):
        raise NotFound("the job's result has expired", code="job_result_expired")
    return Response(result["body"], status=200, content_type=result["content_type"])


@bp.delete(JOBS_PREFIX + "/<job_id>")
def cancel_job(job_id: str) -> ResponseReturnValue:
    job = _owned_job(job_id)
    status = job.get_status(refresh=True)
    try:
        if status == JobStatus.STARTED:
            send_stop_job_command(job.connection, job.id)
        elif status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
            job.cancel()
        else:
            raise Conflict(f"the job is already {PUBLIC_STATUS.get(status, status)}", code="job_finished")
    except InvalidJobOperation:
        raise Conflict("the job can no longer be canceled", code="job_finished") from None
    return jsonify(describe(job))


def install_jobs(app: Flask, settings: GatewaySettings) -> None:
    queue = build_queue(settings)
    if queue is not None:
        JOB_QUEUE.set(app, queue)
    app.before_request(allow_large_job_bodies(settings))
    app.register_blueprint(bp)

