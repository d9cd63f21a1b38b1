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
    """rq's retry for ``max_attempts`` runs in all (None for a single run)."""
    return Retry(max=max_attempts - 1) if max_attempts > 1 else None


def start_attempt() -> None:
    """Count this run in the job's meta and forget the failure of an earlier run."""
    job = get_current_job()
    if job is None:
        return
    job.meta["attempts"] = int(job.meta.get("attempts", 0)) + 1
    job.meta.pop("error", None)
    job.save_meta()


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


def attempts_of(job: Job, running: bool) -> dict[str, int]:
    """``attempts`` (runs started so far) and ``max_attempts`` for the job resource."""
    started = int(job.meta.get("attempts", 0))
    total = int(job.meta.get("max_attempts", 1))
    return {"attempts": max(started, 1 if running else 0), "max_attempts": total}


class GracefulWorker(Worker):
    """An rq worker whose warm shutdown is bounded: after ``grace_s`` the running job is stopped and requeued."""

    grace_s: float = 30.0

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        if self.get_state() == WorkerStatus.BUSY:
            timer = threading.Timer(self.grace_s, self._stop_running_job)
            timer.daemon = True
            timer.start()
            log.info("asked to stop: the running job has %.0f s to finish", self.grace_s)
        super().request_stop(signum, frame)

    def _stop_running_job(self) -> None:
        log.warning("grace period over: stopping the running job, which goes back to the queue")
        self.kill_horse(signal.SIGKILL)
