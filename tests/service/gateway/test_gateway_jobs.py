"""Asynchronous jobs: 202 and a status URL, a real rq worker process, results, failures with reasons, cancel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.conftest import TEXT_TOKEN
from tests.support.gateway import gateway_settings
from tests.support.processes import ROOT, dead_url
from tests.support.workers import WorkerProcess, start_worker

AUTH = {"Authorization": "Bearer sk-jobs"}
OTHER = {"Authorization": "Bearer sk-other"}
QUEUE = "test-jobs"

pytest_plugins = ["tests.support.redis_fixtures"]


def _settings(text_url: str, redis_url: str, **extra: Any) -> GatewaySettings:
    values: dict[str, Any] = dict(
        internal_token=TEXT_TOKEN, redis_url=redis_url, jobs_queue=QUEUE, max_body_bytes=64 * 1024,
        job_max_body_bytes=4 * 1024 * 1024)
    return gateway_settings({"text": text_url}, api_keys="sk-jobs embeddings,sk-other embeddings,sk-admin admin",
                            **{**values, **extra})


@pytest.fixture(scope="module")
def worker(text_url: str, redis_base_url: str) -> Iterator[WorkerProcess]:
    env = {"GATEWAY_REDIS_URL": redis_base_url, "GATEWAY_JOBS_QUEUE": QUEUE, "GATEWAY_TEXT_URL": text_url,
           "POLYSERVE_INTERNAL_TOKEN": TEXT_TOKEN, "GATEWAY_JOB_TIMEOUT_S": "120",
           "GATEWAY_JOB_RETRY_DELAYS_S": "[20]",
           "GATEWAY_FUSION_URL": dead_url()}  # no fusion service: its jobs fail
    worker = start_worker(env)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def app(text_url: str, redis_base_url: str) -> Flask:
    return create_app(_settings(text_url, redis_base_url, cache_enabled=False))


def wait_for(client: FlaskClient, job_id: str, done: set[str], timeout_s: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        status = client.get(f"/v1/jobs/{job_id}", headers=AUTH).get_json()
        if status["status"] in done or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def submit(client: FlaskClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/jobs/embeddings", json=body, headers=AUTH)
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert response.headers["Location"] == job["status_url"] == f"/v1/jobs/{job['id']}"
    return job


def test_a_job_runs_and_its_result_is_what_the_route_answers(app: Flask, worker: WorkerProcess) -> None:
    client = app.test_client()
    body = {"model": "all-MiniLM-L6-v2", "input": ["a job", "deferred work"]}
    job = submit(client, body)
    assert job["status"] in {"queued", "running"} and job["route"] == "/v1/embeddings"
    assert wait_for(client, job["id"], {"succeeded", "failed"})["status"] == "succeeded"
    result = client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH)
    assert result.status_code == 200 and result.content_type == "application/json"
    direct = client.post("/v1/embeddings", json=body, headers=AUTH).get_json()
    deferred = result.get_json()
    assert deferred["model"] == direct["model"] and deferred["usage"] == direct["usage"]
    assert np.allclose([d["embedding"] for d in deferred["data"]], [d["embedding"] for d in direct["data"]],
                       atol=1e-5)


def test_jobs_survive_a_gateway_restart(text_url: str, redis_base_url: str, worker: WorkerProcess) -> None:
    before = create_app(_settings(text_url, redis_base_url)).test_client()
    job = submit(before, {"model": "all-MiniLM-L6-v2", "input": "outlives the gateway"})
    del before
    after = create_app(_settings(text_url, redis_base_url)).test_client()
    assert wait_for(after, job["id"], {"succeeded", "failed"})["status"] == "succeeded"
    result = after.get(f"/v1/jobs/{job['id']}/result", headers=AUTH)
    assert result.status_code == 200 and len(result.get_json()["data"]) == 1


def test_only_the_submitter_or_an_admin_sees_a_job(app: Flask, worker: WorkerProcess) -> None:
    client = app.test_client()
    job = submit(client, {"model": "all-MiniLM-L6-v2", "input": "mine"})
    hidden = client.get(f"/v1/jobs/{job['id']}", headers=OTHER)
    assert hidden.status_code == 404 and hidden.get_json()["error"]["code"] == "job_not_found"
    assert client.get(f"/v1/jobs/{job['id']}/result", headers=OTHER).status_code == 404
    assert client.delete(f"/v1/jobs/{job['id']}", headers=OTHER).status_code == 404
    assert client.get(f"/v1/jobs/{job['id']}", headers={"Authorization": "Bearer sk-admin"}).status_code == 200
    assert client.get("/v1/jobs/not-a-job", headers=AUTH).status_code == 404


def test_a_refused_job_fails_with_the_route_reason(app: Flask, worker: WorkerProcess) -> None:
    client = app.test_client()
    job = submit(client, {"model": "all-MiniLM-L6-v2", "input": ["fine", "x" * 3000]})
    status = wait_for(client, job["id"], {"succeeded", "failed"})
    assert status["status"] == "failed"
    assert status["error"]["code"] == "input_too_long" and status["error"]["status"] == 400
    assert status["error"]["param"] == "input[1]"
    assert (status["attempts"], status["error"]["type"]) == (1, "invalid_request_error")  # not run again
    result = client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH)
    assert result.status_code == 409 and result.get_json()["error"]["code"] == "job_failed"


def test_a_bulk_ingest_job_fails_with_a_reason_when_fusion_is_down(text_url: str, redis_base_url: str,
                                                                   worker: WorkerProcess) -> None:
    settings = _settings(text_url, redis_base_url).model_copy(update={"api_keys": "sk-writer collections:write"})
    client = create_app(settings).test_client()
    headers = {"Authorization": "Bearer sk-writer"}
    accepted = client.post("/v1/jobs/collections/docs/items", headers=headers,
                           json={"items": [{"id": "a", "text": "first document"}]})
    assert accepted.status_code == 202 and accepted.get_json()["route"] == "/v1/collections/docs/items"
    deadline = time.monotonic() + 150  # three attempts, GATEWAY_JOB_RETRY_DELAYS_S apart
    status = accepted.get_json()
    while status["status"] in {"queued", "running"} and time.monotonic() < deadline:
        time.sleep(0.2)
        status = client.get(status["status_url"], headers=headers).get_json()
    assert status["status"] == "failed"
    assert (status["error"]["status"], status["error"]["code"]) == (503, "fusion_unavailable")
    assert (status["attempts"], status["error"]["type"]) == (3, "server_error")  # every attempt, then failed


def test_a_dead_work_horse_job_runs_again_not_lost(app: Flask, worker: WorkerProcess) -> None:
    client = app.test_client()
    job = submit(client, {"model": "all-MiniLM-L6-v2", "input": [f"long bulk sentence {i}" for i in range(768)]})
    assert wait_for(client, job["id"], {"running", "succeeded", "failed"})["status"] == "running"
    deadline = time.monotonic() + 10
    while not worker.horse_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in worker.horse_pids():
        os.kill(pid, signal.SIGKILL)
    status = wait_for(client, job["id"], {"succeeded", "failed"}, timeout_s=240)
    assert status["status"] == "succeeded" and status["attempts"] in (2, 3)  # see test_gateway_job_restarts.py
    assert worker.process.poll() is None  # the worker itself goes on with the next job
    follow_up = submit(client, {"model": "all-MiniLM-L6-v2", "input": "after the crash"})
    assert wait_for(client, follow_up["id"], {"succeeded", "failed"})["status"] == "succeeded"


def test_a_queued_job_can_be_canceled_once(text_url: str, redis_base_url: str) -> None:
    client = create_app(_settings(text_url, redis_base_url, jobs_queue="no-worker-here")).test_client()
    job = submit(client, {"model": "all-MiniLM-L6-v2", "input": "never runs"})
    canceled = client.delete(f"/v1/jobs/{job['id']}", headers=AUTH)
    assert canceled.status_code == 200 and canceled.get_json()["status"] == "canceled"
    again = client.delete(f"/v1/jobs/{job['id']}", headers=AUTH)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "job_finished"
    pending = client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH)
    assert pending.status_code == 409 and pending.get_json()["error"]["code"] == "job_not_finished"
    assert pending.headers["Retry-After"] == "2"  # the route's own, not the rate limiter's window


def test_job_bodies_may_exceed_the_synchronous_limit(app: Flask) -> None:
    client = app.test_client()
    body = {"model": "all-MiniLM-L6-v2", "input": ["y" * 1000] * 100}  # ~100 kB: over 64 kB, under 4 MB
    assert client.post("/v1/embeddings", json=body, headers=AUTH).status_code == 413
    assert client.post("/v1/jobs/embeddings", json=body, headers=AUTH).status_code == 202


def test_job_submission_needs_the_deferred_route_scope(text_url: str, redis_base_url: str) -> None:
    settings = _settings(text_url, redis_base_url).model_copy(update={"api_keys": "sk-audio-only audio"})
    client = create_app(settings).test_client()
    refused = client.post("/v1/jobs/embeddings", json={"model": "m", "input": "x"},
                          headers={"Authorization": "Bearer sk-audio-only"})
    assert refused.status_code == 403 and 'scope="embeddings"' in refused.headers["WWW-Authenticate"]


def test_a_worker_without_redis_idles_instead_of_exiting() -> None:
    process = subprocess.Popen([sys.executable, "-m", "gateway.worker"], cwd=ROOT, stderr=subprocess.PIPE,
                               env={k: v for k, v in os.environ.items() if k != "GATEWAY_REDIS_URL"})
    try:
        assert process.stderr is not None
        first_line = process.stderr.readline()  # after imports, however long a loaded machine takes for them
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(3)  # a local stack without Redis keeps running (honcho stops all when one exits)
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert b"GATEWAY_REDIS_URL is not set" in first_line


def test_without_redis_jobs_answer_503(text_url: str) -> None:
    client = create_app(gateway_settings({"text": text_url}, api_keys="sk-jobs")).test_client()
    response = client.post("/v1/jobs/embeddings", json={"model": "m", "input": "x"}, headers=AUTH)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "jobs_unavailable"
    assert client.get("/v1/jobs/abc", headers=AUTH).status_code == 503
