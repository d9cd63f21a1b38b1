"""The text path as a user meets it: real processes under gunicorn, plain HTTP and the official openai client."""

from __future__ import annotations

import numpy as np
import pytest
import requests
from openai import APIStatusError, AuthenticationError, BadRequestError, NotFoundError, OpenAI

from tests.e2e.conftest import E2E_KEY
from tests.support.gateway import gateway_over
from tests.support.processes import INTERNAL_TOKEN, ServiceProcess, dead_url

TEXTS = ["A dog runs across the park.", "Quarterly revenue grew by ten percent.", "ünïcødé and emoji 🚀 work too"]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_curl_and_openai_client_get_sentence_transformers_vectors(
        gateway_process: ServiceProcess, minilm_reference) -> None:  # type: ignore[no-untyped-def]
    reference = minilm_reference.encode(TEXTS)
    plain = requests.post(f"{gateway_process.url}/v1/embeddings", timeout=30,
                          headers={"Authorization": f"Bearer {E2E_KEY}"},
                          json={"model": "all-MiniLM-L6-v2", "input": TEXTS})
    assert plain.status_code == 200
    assert plain.headers["X-Request-ID"]
    curl_vectors = np.array([d["embedding"] for d in plain.json()["data"]])

    client = OpenAI(base_url=f"{gateway_process.url}/v1", api_key=E2E_KEY)
    response = client.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS)  # base64 on the wire
    sdk_vectors = np.array([d.embedding for d in response.data])
    floats = client.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS, encoding_format="float")

    assert _cosines(curl_vectors, reference).min() >= 0.9999
    assert _cosines(sdk_vectors, reference).min() >= 0.9999
    assert np.allclose(np.array([d.embedding for d in floats.data]), sdk_vectors, atol=1e-6)
    assert response.usage.prompt_tokens > 0
    assert [m.id for m in client.models.list().data] == ["all-MiniLM-L6-v2"]
    assert client.models.retrieve("all-MiniLM-L6-v2").id == "all-MiniLM-L6-v2"


def test_openai_client_sees_clear_errors(gateway_process: ServiceProcess) -> None:
    client = OpenAI(base_url=f"{gateway_process.url}/v1", api_key=E2E_KEY, max_retries=0)
    with pytest.raises(NotFoundError) as missing:
        client.embeddings.create(model="text-embedding-3-large", input="x")
    assert missing.value.code == "model_not_found"
    with pytest.raises(BadRequestError) as empty:
        client.embeddings.create(model="all-MiniLM-L6-v2", input=[])
    assert empty.value.code == "empty_input"
    with pytest.raises(AuthenticationError):
        OpenAI(base_url=f"{gateway_process.url}/v1", api_key="wrong", max_retries=0).embeddings.create(
            model="all-MiniLM-L6-v2", input="x")
    assert requests.get(f"{gateway_process.url}/readyz", timeout=5).status_code == 200


def test_request_id_travels_to_the_text_service_log(gateway_process: ServiceProcess,
                                                    text_process: ServiceProcess) -> None:
    requests.post(f"{gateway_process.url}/v1/embeddings", timeout=30,
                  headers={"Authorization": f"Bearer {E2E_KEY}", "X-Request-ID": "trace-me-42"},
                  json={"model": "all-MiniLM-L6-v2", "input": "the secret payload sentence"})
    text_log = text_process.log_tail(400)
    assert '"request_id": "trace-me-42"' in text_log
    assert "secret payload" not in text_log + gateway_process.log_tail(400)


def test_services_refuse_calls_without_the_internal_token(text_process: ServiceProcess) -> None:
    assert requests.post(f"{text_process.url}/v1/embed", json={"input": "x"}, timeout=10).status_code == 401
    ok = requests.post(f"{text_process.url}/v1/embed", json={"input": "x"}, timeout=10,
                       headers={"X-Internal-Token": INTERNAL_TOKEN})
    assert ok.status_code == 200


def test_a_dead_upstream_gives_503_not_a_hang_or_500() -> None:
    with gateway_over({}, api_keys=E2E_KEY, gateway_env={"GATEWAY_TEXT_URL": dead_url()}) as stack:
        client = OpenAI(base_url=f"{stack.url}/v1", api_key=E2E_KEY, max_retries=0, timeout=20)
        with pytest.raises(APIStatusError) as error:
            client.embeddings.create(model="all-MiniLM-L6-v2", input="x")
        assert error.value.status_code == 503
        assert error.value.code == "text_unavailable"
