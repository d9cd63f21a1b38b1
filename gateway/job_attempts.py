"""At-least-once jobs: a job whose run is cut short (its worker stopped, crashed or was killed, or its route
failed on the server's side) goes back to the queue and runs again, up to ``GATEWAY_JOB_MAX_ATTEMPTS`` runs.

rq does the requeueing (``Retry``): when a work-horse dies, when a worker's heartbeat expires (the registry
cleanup that every status read and every worker's maintenance runs), and when the job raises. What this module
adds: the attempt count in the job's meta, the rule that an input the route refused (4xx) is final (running it
again would give the same answer), the fault of a failure (``invalid_request_error``: the caller's;
``server_error``: ours), and a worker that, asked to stop, gives its running job ``GATEWAY_JOB_SHUTDOWN_GRACE_S``
to finish and then stops it, which puts it back in the queue for the next worker.

Deferred routes must be safe to run twice: embeddings and transcriptions are pure (a rerun computes the same
answer), and collection items are upserts by id (a rerun writes the same items again).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

from rq import Retry, Worker, get_current_job
from rq.job import Job
from rq.worker import WorkerStatus

log = logging.getLogger(__name__)

CLIENT_FAULT = "invalid_request_error"
SERVER_FAULT = "server_error"


def retry_policy(max_attempts: int) -> Retry | None:
    """rq's retry for ``max_attempts`` runs in all (None for a single run); requeued at once, see
    :func:`start_attempt` for the wait."""
    return Retry(max=max_attempts - 1) if max_attempts > 1 else None


def backoff_s(attempt: int, delays_s: list[int]) -> float:
    """The wait before run ``attempt`` (1-based): none before the first, then ``delays_s`` (the last repeats)."""
    if attempt <= 1 or not delays_s:
        return 0.0
    return float(delays_s[min(attempt - 2, len(delays_s) - 1)])


def _attempts_key(job: Job) -> str:
    # A key of its own: rq saves the whole job (meta included) from the worker's copy when a horse dies, which
    # would undo a count kept in meta by the horse.
    return f"polyserve:job-attempts:{job.id}"


def start_attempt(delays_s: list[int]) -> None:
    """Count this run, forget the failure of an earlier run, and, for a rerun, first give the upstream that may
    have cut the last run short (overloaded, restarting) its backoff delay."""
    job = get_current_job()
    if job is None:
        return
    attempt = int(job.connection.incr(_attempts_key(job)))
    job.connection.expire(_attempts_key(job), max(job.result_ttl or 0, job.failure_ttl or 0, 86400))
    if job.meta.pop("error", None) is not None:
        job.save_meta()
    time.sleep(backoff_s(attempt, delays_s))


def record_failure(status: int, error: Mapping[str, Any]) -> None:
    """Keep the route's error on the job; a refused input (4xx) is final, so rq does not run the job again."""
    job = get_current_job()
    if job is None:
        return
    fault = CLIENT_FAULT if status < 500 else SERVER_FAULT
    job.meta["error"] = {"status": status, "type": fault, "code": str(error.get("code") or "job_failed"),
                         "message": str(error.get("message") or "the job failed"), "param": error.get("param")}
    job.save_meta()
    if fault == CLIENT_FAULT:
        job.retries_left = 0


def attempts_of(job: Job) -> dict[str, int]:
    """``attempts`` (runs started so far) and ``max_attempts`` for the job resource."""
    started = job.connection.get(_attempts_key(job))
    return {"attempts": int(started or 0), "max_attempts": int(job.meta.get("max_attempts", 1))}


class GracefulWorker(Worker):
    """An rq worker whose warm shutdown is bounded: after ``grace_s`` the running job is stopped and requeued."""

    grace_s: float = 30.0

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.get_state() == WorkerStatus.BUSY:
            timer = threading.Timer(self.grace_s, self._stop_running_job)
            timer.daemon = True
            timer.start()
            log.info("asked to stop: the running job has %.0f s to finish", self.grace_s)
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]  # rq is untyped

    def _stop_running_job(self) -> None:
        log.warning("grace period over: stopping the running job, which goes back to the queue")
        self.kill_horse(signal.SIGKILL)
