"""``python -m gateway.worker``: runs the gateway's asynchronous jobs from the rq queue in Redis.

Each job replays the request it was submitted with against the gateway's own route, in process, with the
job's long deadline (``GATEWAY_JOB_TIMEOUT_S``) and ``X-Polyserve-Async-Job: 1`` on every upstream call, so
the services accept work too long for a synchronous request (the audio service's ``max_job_duration_s``).
rq forks a work-horse per job; a run cut short goes back to the queue (gateway/job_attempts.py).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Mapping
from typing import Any

import redis
from flask import Flask
from rq import Queue, get_current_job

from gateway.job_attempts import GracefulWorker, record_failure, start_attempt
from gateway.settings import GatewaySettings
from gateway.upstreams import UPSTREAM_CLIENTS
from servekit.client import CallContext, ServiceClient, build_clients
from servekit.logs import configure_logging
from servekit.protocol import ASYNC_JOB_HEADER, REQUEST_ID_HEADER

log = logging.getLogger(__name__)

# The app that runs jobs in this worker process (and in the horses forked from it); set once by main().
_job_app: list[Flask] = []


class JobFailed(Exception):
    """The replayed route answered an error; the reason is in the job's meta, not in this message."""


class JobServiceClient(ServiceClient):
    """Marks every upstream call as an asynchronous job's, which the services allow to run longer."""

    def _headers(self, extra: Mapping[str, str] | None, budget_s: float, context: CallContext) -> dict[str, str]:
        headers = super()._headers(extra, budget_s, context)
        headers[ASYNC_JOB_HEADER] = "1"
        return headers


def job_settings(settings: GatewaySettings) -> GatewaySettings:
    """The in-process app of a worker: no auth, limits or cache (checked at submission), the job's deadline."""
    return settings.model_copy(update={
        "auth_disabled": True, "rate_limits_enabled": False, "cache_enabled": False, "redis_url": None,
        "request_timeout_s": settings.job_timeout_s, "max_body_bytes": settings.job_max_body_bytes,
        "tls_cert_file": None, "tls_key_file": None,
    })


def build_job_app(settings: GatewaySettings) -> Flask:
    from gateway.app import create_app  # the worker is the app's client, imported when it starts

    settings = job_settings(settings)
    app = create_app(settings)
    # settings.request_timeout_s is the job's timeout here (job_settings), so every upstream call may run that long.
    UPSTREAM_CLIENTS.set(app, build_clients(settings, client_cls=JobServiceClient))
    return app


def run_job(work: dict[str, Any]) -> dict[str, Any]:
    """Replay one submitted request; the route's answer is the job's result."""
    if not _job_app:
        _job_app.append(build_job_app(GatewaySettings()))
    job = get_current_job()
    start_attempt(_job_app[0].extensions["settings"].job_retry_delays_s)
    headers = {REQUEST_ID_HEADER: job.id} if job is not None else {}
    try:
        response = _job_app[0].test_client().post(
            work["route"], data=work["body"], content_type=work["content_type"] or None,
            query_string=work["query"], headers=headers,
        )
    except Exception:
        log.exception("job crashed")
        record_failure(500, {"code": "job_failed", "message": "the job failed unexpectedly"})
        raise
    if response.status_code >= 400:
        body = response.get_json(silent=True)
        error: dict[str, Any] = body["error"] if isinstance(body, dict) and isinstance(body.get("error"), dict) \
            else {}
        record_failure(response.status_code, error)
        raise JobFailed(str(error.get("code") or response.status_code))
    return {"content_type": response.content_type, "body": response.get_data()}


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway-worker", settings.log_level)
    if not settings.redis_url:
        log.warning("GATEWAY_REDIS_URL is not set: asynchronous jobs are off and this worker idles")
        signal.pause()
        return
    _job_app.append(build_job_app(settings))
    connection = redis.Redis.from_url(settings.redis_url)
    queue = Queue(settings.jobs_queue, connection=connection)
    worker = GracefulWorker([queue], connection=connection, log_job_description=False,
                            job_monitoring_interval=settings.job_monitoring_interval_s,
                            maintenance_interval=max(30, 3 * settings.job_monitoring_interval_s))
    worker.grace_s = settings.job_shutdown_grace_s
    worker.work(logging_level=settings.log_level)


if __name__ == "__main__":
    main()
