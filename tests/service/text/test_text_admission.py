"""Admission control with the real text service and gateway: work that could not finish before its deadline is
refused at once with 503 and Retry-After, by the encoder, and relayed as such by the gateway."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from servekit.protocol import DEADLINE_HEADER, QUEUE_WAIT_HEADER
from tests.conftest import TEXT_TOKEN

AUTH = {"X-Internal-Token": TEXT_TOKEN}
KEY = "sk-admission"
LONG = "a sentence that is long enough to keep the model busy for a while, " * 4


@pytest.fixture()
def busy_text(text_app: Flask) -> Iterator[FlaskClient]:
    """The text service after one request taught it its speed, with 64 long texts running or queued."""
    client = text_app.test_client()
    for size in (1, 8):  # batches of two sizes: the clock learns the per-batch and per-token costs
        assert client.post("/v1/embed", json={"input": ["warm the clock"] * size}, headers=AUTH).status_code == 200
    worker = threading.Thread(target=lambda: text_app.test_client().post(
        "/v1/embed", json={"input": [f"{i} {LONG}" for i in range(64)]}, headers=AUTH))
    worker.start()
    time.sleep(0.1)
    yield client
    worker.join()


def test_encoder_refuses_at_once_what_its_deadline_cannot_wait_for(busy_text: FlaskClient) -> None:
    started = time.monotonic()
    response = busy_text.post("/v1/embed", json={"input": ["too late"]}, headers={**AUTH, DEADLINE_HEADER: "5"})
    assert time.monotonic() - started < 0.5
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "overloaded"
    assert int(response.headers["Retry-After"]) >= 1
    assert int(response.headers[QUEUE_WAIT_HEADER]) > 5  # the work ahead, which callers mirror


def test_a_request_whose_deadline_allows_the_wait_is_served(busy_text: FlaskClient) -> None:
    response = busy_text.post("/v1/embed", json={"input": ["patient"]}, headers={**AUTH, DEADLINE_HEADER: "60000"})
    assert response.status_code == 200
    assert int(response.headers[QUEUE_WAIT_HEADER]) >= 0


def test_gateway_relays_the_refusal_with_retry_after(text_url: str, busy_text: FlaskClient) -> None:
    gateway = create_app(GatewaySettings(api_keys=KEY, text_url=text_url, internal_token=TEXT_TOKEN,
                                         cache_enabled=False)).test_client()
    response = gateway.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": "too late"},
                            headers={"Authorization": f"Bearer {KEY}", DEADLINE_HEADER: "400"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "overloaded"
    assert int(response.headers["Retry-After"]) >= 1
    assert QUEUE_WAIT_HEADER not in response.headers  # between services only
    assert response.get_json()["error"]["message"].startswith("model ")  # the encoder's own refusal

    # The refusal reported the queue: the next request that could not wait for it is refused by the gateway,
    # without being sent (its message names the service, not the model), and at once even while another request
    # for the model is out, so that it would otherwise wait in the coalescing lane; a patient one still goes through.
    patient = threading.Thread(target=lambda: outcomes.append(gateway.post(
        "/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": "patient"},
        headers={"Authorization": f"Bearer {KEY}", DEADLINE_HEADER: "60000"}).status_code))
    outcomes: list[int] = []
    patient.start()
    time.sleep(0.05)
    started = time.monotonic()
    again = gateway.post("/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": "too late again"},
                         headers={"Authorization": f"Bearer {KEY}", DEADLINE_HEADER: "400"})
    assert time.monotonic() - started < 0.2
    assert again.status_code == 503 and again.get_json()["error"]["code"] == "overloaded"
    assert again.get_json()["error"]["message"].startswith("the text service is at capacity")
    assert int(again.headers["Retry-After"]) >= 1
    patient.join()
    assert outcomes == [200]
