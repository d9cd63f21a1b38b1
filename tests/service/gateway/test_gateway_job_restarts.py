"""Jobs survive their worker: a run cut short (work-horse killed, whole worker killed, worker asked to stop past
its grace period) goes back to the queue and runs again on the next worker, up to GATEWAY_JOB_MAX_ATTEMPTS runs;
only a job that fails on every attempt ends failed, with the fault in ``error.type``. Real rq worker processes,
a real Redis, the real text service over HTTP."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.conftest import TEXT_TOKEN
from tests.support.processes import free_port
from tests.support.workers import WorkerProcess, start_worker

AUTH = {"Authorization": "Bearer sk-restarts"}
QUEUE = "test-job-restarts"
LONG_JOB = {"model": "all-MiniLM-L6-v2", "input": [f"a long bulk sentence number {i}" for i in range(768)]}

pytest_plugins = ["tests.support.redis_fixtures"]


def _app(text_url: str, redis_url: str, **extra: Any) -> Flask:
    return create_app(GatewaySettings(
        api_keys="sk-restarts embeddings", text_url=text_url, internal_token=TEXT_TOKEN, redis_url=redis_url,
        jobs_queue=QUEUE, cache_enabled=False, vision_url=f"http://127.0.0.1:{free_port()}",
        audio_url=f"http://127.0.0.1:{free_port()}", **extra))


def _worker_env(text_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    return {"GATEWAY_REDIS_URL": redis_url, "GATEWAY_JOBS_QUEUE": QUEUE, "GATEWAY_TEXT_URL": text_url,
            "POLYSERVE_INTERNAL_TOKEN": TEXT_TOKEN, "GATEWAY_JOB_TIMEOUT_S": "300",
            "GATEWAY_JOB_MONITORING_INTERVAL_S": "1", "GATEWAY_JOB_RETRY_DELAYS_S": "[15, 30]", **extra}


@pytest.fixture
def workers(text_url: str, redis_base_url: str) -> Iterator[list[WorkerProcess]]:
    """Workers a test starts (appended to the list); every one is stopped afterwards."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        for pid in _horses(worker):
            _kill(pid)
        worker.stop()


def _horses(worker: WorkerProcess) -> list[int]:
    try:
        return worker.horse_pids()
    except OSError:
        return []


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _status(client: FlaskClient, job_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = client.get(f"/v1/jobs/{job_id}", headers=AUTH).get_json()
    return answer


def _wait(client: FlaskClient, job_id: str, done: set[str], timeout_s: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    status = _status(client, job_id)
    while status["status"] not in done and time.monotonic() < deadline:
        time.sleep(0.3)
        status = _status(client, job_id)
    return status


def _submit_running(client: FlaskClient, worker: WorkerProcess) -> str:
    """Submit the long job and return its id once ``worker`` runs it in a horse."""
    answer = client.post("/v1/jobs/embeddings", json=LONG_JOB, headers=AUTH)
    assert answer.status_code == 202, answer.get_json()
    job = answer.get_json()
    assert (job["attempts"], job["max_attempts"]) == (0, 3)
    assert _wait(client, job["id"], {"running", "succeeded", "failed"})["status"] == "running"
    deadline = time.monotonic() + 10
    while not _horses(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _horses(worker), "the job runs in no work-horse"
    return str(job["id"])


def _assert_succeeded_on_second_attempt(client: FlaskClient, job_id: str) -> None:
    """Succeeded on a later run: the second, or the third when the second met the text service still busy with
    the work of the run that was cut short (its 503 is a server fault, and is retried too)."""
    status = _wait(client, job_id, {"succeeded", "failed"})
    assert status["status"] == "succeeded", status
    assert status["attempts"] in (2, 3) and status["max_attempts"] == 3
    result = client.get(f"/v1/jobs/{job_id}/result", headers=AUTH).get_json()
    assert len(result["data"]) == len(LONG_JOB["input"])


def test_a_killed_work_horse_reruns_its_job(text_url: str, redis_base_url: str,
                                            workers: list[WorkerProcess]) -> None:
    client = _app(text_url, redis_base_url, job_max_attempts=3).test_client()
    workers.append(start_worker(_worker_env(text_url, redis_base_url)))
    job_id = _submit_running(client, workers[0])
    for pid in _horses(workers[0]):
        _kill(pid)
    _assert_succeeded_on_second_attempt(client, job_id)


def test_a_crashed_worker_job_runs_again_on_the_next_worker(text_url: str, redis_base_url: str,
                                                            workers: list[WorkerProcess]) -> None:
    """The whole worker dies (SIGKILL, no cleanup); once its heartbeat expires the job is queued again."""
    client = _app(text_url, redis_base_url, job_max_attempts=3).test_client()
    workers.append(start_worker(_worker_env(text_url, redis_base_url)))
    job_id = _submit_running(client, workers[0])
    horses = _horses(workers[0])
    workers[0].process.kill()
    workers[0].process.wait(10)
    for pid in horses:
        _kill(pid)
    workers.append(start_worker(_worker_env(text_url, redis_base_url)))
    _assert_succeeded_on_second_attempt(client, job_id)


def test_a_stopping_worker_requeues_its_job_after_the_grace_period(text_url: str, redis_base_url: str,
                                                                  workers: list[WorkerProcess]) -> None:
    client = _app(text_url, redis_base_url, job_max_attempts=3).test_client()
    workers.append(start_worker(_worker_env(text_url, redis_base_url, GATEWAY_JOB_SHUTDOWN_GRACE_S="0.5")))
    job_id = _submit_running(client, workers[0])
    workers[0].process.send_signal(signal.SIGTERM)
    assert workers[0].process.wait(30) == 0  # it stopped within its grace period, not after the job
    assert _status(client, job_id)["status"] == "queued"
    workers.append(start_worker(_worker_env(text_url, redis_base_url)))
    _assert_succeeded_on_second_attempt(client, job_id)


def test_a_stopping_worker_lets_its_job_finish_within_the_grace_period(text_url: str, redis_base_url: str,
                                                                      workers: list[WorkerProcess]) -> None:
    client = _app(text_url, redis_base_url, job_max_attempts=3).test_client()
    workers.append(start_worker(_worker_env(text_url, redis_base_url, GATEWAY_JOB_SHUTDOWN_GRACE_S="300")))
    job_id = _submit_running(client, workers[0])
    workers[0].process.send_signal(signal.SIGTERM)
    assert workers[0].process.wait(300) == 0
    status = _status(client, job_id)
    assert (status["status"], status["attempts"]) == ("succeeded", 1)


def test_a_job_lost_on_its_only_attempt_fails_as_the_server_fault(text_url: str, redis_base_url: str,
                                                                  workers: list[WorkerProcess]) -> None:
    client = _app(text_url, redis_base_url, job_max_attempts=1).test_client()
    workers.append(start_worker(_worker_env(text_url, redis_base_url)))
    answer = client.post("/v1/jobs/embeddings", json=LONG_JOB, headers=AUTH)
    job_id = answer.get_json()["id"]
    assert _wait(client, job_id, {"running", "succeeded", "failed"})["status"] == "running"
    deadline = time.monotonic() + 10
    while not _horses(workers[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in _horses(workers[0]):
        _kill(pid)
    status = _wait(client, job_id, {"succeeded", "failed"})
    assert status["status"] == "failed" and (status["attempts"], status["max_attempts"]) == (1, 1)
    assert (status["error"]["code"], status["error"]["type"]) == ("worker_lost", "server_error")


def test_a_refused_input_is_final_and_the_caller_fault(text_url: str, redis_base_url: str,
                                                       workers: list[WorkerProcess]) -> None:
    client = _app(text_url, redis_base_url, job_max_attempts=3).test_client()
    workers.append(start_worker(_worker_env(text_url, redis_base_url)))
    answer = client.post("/v1/jobs/embeddings", json={"model": "no-such-model", "input": "x"}, headers=AUTH)
    status = _wait(client, answer.get_json()["id"], {"succeeded", "failed"})
    assert status["status"] == "failed" and status["attempts"] == 1
    assert (status["error"]["type"], status["error"]["status"]) == ("invalid_request_error", 404)
