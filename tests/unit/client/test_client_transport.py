"""The client's transport rules, on scripted HTTP answers: Retry-After honoured on 429/503, other errors raised at
once with the API's code, the key sent as a bearer header, files sent as multipart parts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from polyserve_client import Polyserve, PolyserveError
from polyserve_client.ingest import batches, source_files


def _response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode() if body is not None else b""
    response.headers.update({"Content-Type": "application/json", **(headers or {})})
    return response


class ScriptedSession(requests.Session):
    """Answers each request with the next scripted response and records what was sent."""

    def __init__(self, answers: list[requests.Response]) -> None:
        super().__init__()
        self.answers = answers
        self.sent: list[dict[str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append({"method": method, "url": url, **kwargs})
        return self.answers.pop(0)


def _client(answers: list[requests.Response]) -> tuple[Polyserve, ScriptedSession, list[float]]:
    session, slept = ScriptedSession(answers), list[float]()
    return Polyserve("http://gw", "sk-x", session=session, sleep=slept.append, max_retries=2), session, slept


def _error(code: str) -> dict[str, Any]:
    return {"error": {"message": f"because {code}", "type": "t", "param": None, "code": code}}


def test_429_and_503_are_retried_after_retry_after() -> None:
    client, session, slept = _client([_response(429, _error("rate_limited"), {"Retry-After": "3"}),
                                      _response(503, _error("upstream_busy"), {"Retry-After": "1"}),
                                      _response(200, {"object": "list", "data": []})])
    assert client.models() == []
    assert slept == [3.0, 1.0]
    assert all(sent["headers"]["Authorization"] == "Bearer sk-x" for sent in session.sent)


def test_retries_stop_after_max_retries_with_the_last_error() -> None:
    client, _, slept = _client([_response(503, _error("upstream_busy"))] * 3)
    with pytest.raises(PolyserveError) as raised:
        client.models()
    assert raised.value.code == "upstream_busy" and raised.value.status == 503
    assert slept == [0.5, 1.0]  # no Retry-After: exponential backoff


def test_other_errors_raise_at_once_with_code_message_and_param() -> None:
    client, session, _ = _client([_response(400, {"error": {"message": "bad", "type": "invalid_request_error",
                                                            "param": "input", "code": "invalid_input"}})])
    with pytest.raises(PolyserveError) as raised:
        client.embeddings("x")
    assert (raised.value.code, raised.value.message, raised.value.param) == ("invalid_input", "bad", "input")
    assert len(session.sent) == 1


def test_a_non_api_error_body_still_gives_status_and_text() -> None:
    response = _response(502)
    response._content = b"<html>bad gateway</html>"
    client, _, _ = _client([response])
    with pytest.raises(PolyserveError) as raised:
        client.models()
    assert raised.value.code == "http_502" and "bad gateway" in raised.value.message


def test_images_go_as_multipart_parts_with_their_names(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"png-a")
    client, session, _ = _client([_response(200, {"data": []})])
    client.classify([tmp_path / "a.png", b"raw"], top_k=2)
    sent = session.sent[0]
    assert sent["files"] == [("file", ("a.png", b"png-a", "image/png")),
                             ("file", ("upload", b"raw", "application/octet-stream"))]
    assert sent["data"] == {"top_k": 2}


def test_ingest_sources_and_batches(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name, size in (("a.png", 10), ("sub/b.wav", 20), ("c.txt", 5), ("d.bin", 1)):
        (tmp_path / name).write_bytes(b"x" * size)
    sources, unsupported = source_files(tmp_path)
    assert [(s.id, s.modality) for s in sources] == [("a.png", "image"), ("c.txt", "text"), ("sub/b.wav", "audio")]
    assert unsupported == ["d.bin"]
    assert [[s.id for s in b] for b in batches(sources, max_items=2, max_bytes=1000)] == [
        ["a.png", "c.txt"], ["sub/b.wav"]]
    assert [[s.id for s in b] for b in batches(sources, max_items=10, max_bytes=16)] == [
        ["a.png", "c.txt"], ["sub/b.wav"]]
