"""The production gateway as a new user meets it, with real processes: Redis, the text service, the gateway
under gunicorn and a job worker; a JWT with a scope, allowed and forbidden routes, a rate limit, a cache hit,
a job that outlives a gateway restart, one trace across processes, and no payload in any log or span."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.gateway import GatewayStack, gateway_over
from tests.support.processes import ServiceProcess
from tests.support.tokens import AUDIENCE, ISSUER, TokenMint
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.e2e

CANARY = "zebra-quokka-canary-5521 marmalade submarine"  # must never reach a log or a span
JOB_CANARY = "ocelot-canary-9034 a job payload"
TRACING = {"POLYSERVE_OTEL_EXPORTER": "console"}


@dataclass
class Stack:
    """The running processes (Redis, text, worker, gateway) and the token mint whose keys the gateway trusts."""

    running: GatewayStack
    mint: TokenMint

    @property
    def gateway(self) -> ServiceProcess:
        return self.running.gateway

    @property
    def text(self) -> ServiceProcess:
        return self.running.services["text"]

    @property
    def worker(self) -> WorkerProcess:
        assert self.running.worker is not None
        return self.running.worker

    @property
    def gateway_logs(self) -> list[str]:
        return self.running.gateway_logs

    def headers(self, scope: str, subject: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint.token(scope, subject=subject)}"}

    def restart_gateway(self) -> None:
        self.running.restart_gateway()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("production")
    mint = TokenMint.generate()
    jwks = mint.write_jwks(folder / "jwks.json")
    env = {"GATEWAY_JWT_JWKS_FILE": str(jwks), "GATEWAY_JWT_ISSUER": ISSUER, "GATEWAY_JWT_AUDIENCE": AUDIENCE,
           "GATEWAY_RATE_LIMITS": json.dumps({"/v1/models": "4/minute"}), **TRACING}
    with gateway_over({"text": {"TEXT_THREADS": "4", **TRACING}}, gateway_env=env, jobs=True) as running:
        yield Stack(running, mint)


def embed(stack: Stack, text: str, scope: str = "embeddings") -> requests.Response:
    return requests.post(f"{stack.gateway.url}/v1/embeddings", headers=stack.headers(scope), timeout=60,
                         json={"model": "all-MiniLM-L6-v2", "input": [text]})


def test_a_scoped_token_is_served_and_forbidden_elsewhere(stack: Stack) -> None:
    assert embed(stack, CANARY).status_code == 200
    refused = embed(stack, CANARY, scope="images")
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    anonymous = requests.post(f"{stack.gateway.url}/v1/embeddings", json={"model": "m", "input": "x"}, timeout=10)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_repeated_request_is_a_byte_identical_cache_hit(stack: Stack) -> None:
    first = embed(stack, CANARY + " again")
    second = embed(stack, CANARY + " again")
    assert first.headers["X-Cache"] == "MISS" and second.headers["X-Cache"] == "HIT"
    assert first.content == second.content


def test_the_rate_limit_is_hit(stack: Stack) -> None:
    headers = stack.headers("embeddings", subject="limited-user")
    answers = [requests.get(f"{stack.gateway.url}/v1/models", headers=headers, timeout=10) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert answers[-1].json()["error"]["code"] == "rate_limit_exceeded"


def test_a_job_outlives_a_gateway_restart(stack: Stack) -> None:
    headers = stack.headers("embeddings", subject="job-owner")
    body: dict[str, Any] = {"model": "all-MiniLM-L6-v2", "input": [JOB_CANARY] + [f"bulk {i}" for i in range(200)]}
    accepted = requests.post(f"{stack.gateway.url}/v1/jobs/embeddings", json=body, headers=headers, timeout=30)
    assert accepted.status_code == 202
    status_url = stack.gateway.url + accepted.json()["status_url"]
    stack.restart_gateway()
    deadline = time.monotonic() + 120
    status = requests.get(status_url, headers=headers, timeout=10).json()
    while status["status"] in {"queued", "running"} and time.monotonic() < deadline:
        time.sleep(0.3)
        status = requests.get(status_url, headers=headers, timeout=10).json()
    assert status["status"] == "succeeded"
    result = requests.get(stack.gateway.url + status["result_url"], headers=headers, timeout=10)
    assert result.status_code == 200 and len(result.json()["data"]) == 201


def _spans(log: str) -> list[dict[str, Any]]:
    spans = []
    for line in log.splitlines():
        if line.startswith("{") and '"context"' in line and '"trace_id"' in line:
            spans.append(json.loads(line))
    return spans


def test_one_trace_spans_gateway_and_encoder_processes(stack: Stack) -> None:
    response = requests.post(f"{stack.gateway.url}/v1/embeddings", headers={
        **stack.headers("embeddings"), "X-Request-ID": "e2e-trace-1", "Cache-Control": "no-store"},
        json={"model": "all-MiniLM-L6-v2", "input": "trace me"}, timeout=30)
    assert response.status_code == 200
    time.sleep(0.5)
    gateway_spans = [s for s in _spans(stack.gateway.log_path.read_text())
                     if s["attributes"].get("polyserve.request_id") == "e2e-trace-1"]
    text_spans = [s for s in _spans(stack.text.log_path.read_text())
                  if s["attributes"].get("polyserve.request_id") == "e2e-trace-1"]
    assert gateway_spans and text_spans
    assert {s["context"]["trace_id"] for s in gateway_spans} == {s["context"]["trace_id"] for s in text_spans}
    assert text_spans[0]["resource"]["attributes"]["service.name"] == "polyserve-text"


def test_no_log_or_span_of_any_process_carries_a_payload(stack: Stack) -> None:
    """Runs last, after the earlier tests sent the canaries through every process; sends them once more,
    through the success, error and job paths, then reads every log."""
    headers = stack.headers("embeddings", subject="privacy")
    assert embed(stack, CANARY).status_code == 200
    for body in ({"model": "no-such-model", "input": CANARY}, {"model": "all-MiniLM-L6-v2", "input": [CANARY * 500]}):
        assert requests.post(f"{stack.gateway.url}/v1/embeddings", json=body, headers=headers, timeout=30).status_code \
            in {400, 404}
    failing_job = requests.post(f"{stack.gateway.url}/v1/jobs/embeddings", headers=headers, timeout=30,
                                json={"model": "all-MiniLM-L6-v2", "input": [JOB_CANARY * 700]})
    status_url = stack.gateway.url + failing_job.json()["status_url"]
    deadline = time.monotonic() + 60
    while requests.get(status_url, headers=headers, timeout=10).json()["status"] != "failed":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    time.sleep(0.5)
    logs = {"gateway": "\n".join(stack.gateway_logs) + stack.gateway.log_path.read_text(errors="replace"),
            "text": stack.text.log_path.read_text(errors="replace"), "worker": stack.worker.log()}
    assert all(len(log) > 1000 for log in logs.values())  # the processes did log (and trace) the requests
    for name, log in logs.items():
        for canary in ("zebra-quokka", "marmalade submarine", "ocelot-canary", "a job payload"):
            assert canary not in log, f"the {name} log carries a payload"
    assert Path(stack.worker.log_path).exists()
