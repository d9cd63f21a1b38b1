"""Regressions of what fuzzing the public API found (issue 13): inputs that once gave a 500, and requests on which
the server and its OpenAPI document disagreed (a schema-valid request refused, a schema-violating one accepted,
an undocumented status).

The gateway runs in process with its upstreams on closed ports: these inputs must be refused by the gateway
itself, before any upstream is called; a request the gateway lets through meets the closed port (503).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator

from gateway.app import create_app
from gateway.cache import input_digest
from gateway.intake import MAX_URL_VALUE_CHARS
from gateway.openapi_doc import build_document
from gateway.settings import GatewaySettings
from servekit.client import UpstreamError
from servekit.errors import InvalidInput
from servekit.items import per_item_data, raise_first_failure
from tests.support.processes import free_port

KEY = "sk-robust"
AUTH = {"Authorization": f"Bearer {KEY}"}
NAMELESS_MULTIPART = (b'--b\r\nContent-Disposition: form-data\r\n\r\nno name\r\n'
                      b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\nxx\r\n'
                      b'--b\r\nContent-Disposition: form-data; filename="b.png"\r\n\r\nyy\r\n--b--\r\n')
MULTIPART = "multipart/form-data; boundary=b"


@pytest.fixture(scope="module")
def app() -> Flask:
    dead: dict[str, Any] = {f"{name}_url": f"http://127.0.0.1:{free_port()}"
                            for name in ("text", "vision", "audio", "fusion")}
    return create_app(GatewaySettings(api_keys=KEY, log_level="WARNING", **dead))


def _error_code(answer: Any) -> str:
    body = answer.get_json()
    assert isinstance(body, dict) and "error" in body, answer.get_data(as_text=True)
    return str(body["error"]["code"])


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/images/captions", "/v1/fuse", "/v1/audio/transcriptions",
                                  "/v1/collections/docs/search", "/v1/jobs/embeddings"])
@pytest.mark.parametrize(("body", "code"), [
    ("[" * 100_000 + "]" * 100_000, "json_too_deep"),
    ('{"model": "m", "input": [NaN]}', "invalid_number"),
    ('{"model": "m", "input": "x", "max_new_tokens": 1e999}', "invalid_number"),
    ('{"model": "m", "model": "n", "input": "x"}', "duplicate_key"),
])
def test_malformed_json_is_refused_by_the_gateway(app: Flask, path: str, body: str, code: str) -> None:
    answer = app.test_client().post(path, data=body, content_type="application/json", headers=AUTH)
    assert answer.status_code == 400
    assert _error_code(answer) == code


@pytest.mark.parametrize("path", ["/v1/images/classifications", "/v1/images/ocr", "/v1/images/captions",
                                  "/v1/audio/transcriptions", "/v1/jobs/audio/transcriptions"])
def test_multipart_parts_without_names_are_refused(app: Flask, path: str) -> None:
    answer = app.test_client().post(path, data=NAMELESS_MULTIPART, content_type=MULTIPART, headers=AUTH)
    assert answer.status_code == 400
    assert _error_code(answer) == "invalid_multipart"


def test_the_cache_key_is_total_over_nameless_parts(app: Flask) -> None:
    """The key once sorted ``None`` names against strings and took ``len(None)``."""
    with app.test_request_context("/v1/images/ocr", method="POST", data=NAMELESS_MULTIPART, content_type=MULTIPART):
        first = input_digest()
    with app.test_request_context("/v1/images/ocr", method="POST", data=NAMELESS_MULTIPART, content_type=MULTIPART):
        assert input_digest() == first


def test_unauthenticated_bodies_are_not_parsed(app: Flask) -> None:
    answer = app.test_client().post("/v1/embeddings", data="[" * 1000, content_type="application/json")
    assert answer.status_code == 401


def _upstream_error() -> UpstreamError:
    return UpstreamError(422, {"error": {"message": "undecodable image", "code": "invalid_image",
                                         "type": "invalid_request_error", "param": None}}, {"Retry-After": "1"})


def test_an_item_failing_upstream_is_reported_with_its_index() -> None:
    """``servekit/items.py`` rebuilt errors with ``type(error)(message, param=...)``, which UpstreamError refuses."""
    with pytest.raises(UpstreamError) as raised:
        per_item_data([_upstream_error()], render=dict, param="items")
    error = raised.value
    assert (error.status, error.code, error.param) == (422, "invalid_image", "items[0]")
    assert error.message == "items[0]: undecodable image" and error.headers == {"Retry-After": "1"}
    with pytest.raises(UpstreamError) as first:
        raise_first_failure([{"ok": 1}, _upstream_error()])
    assert first.value.param == "input[1]"


def test_a_partly_failed_request_keeps_the_original_error_untouched() -> None:
    original = InvalidInput("bad", code="bad_item")
    data = per_item_data([{"v": 1}, original], render=dict)
    assert data[1]["error"]["param"] == "input[1]" and original.param is None


def _conforms(schema: str, body: Any) -> bool:
    """Whether ``body`` is valid for the document's request schema ``schema``."""
    document = build_document()
    return Draft202012Validator({"$ref": f"#/components/schemas/{schema}", "components": document["components"]}
                                ).is_valid(body)


@pytest.mark.parametrize("blank", ["\x1f", "\x85", " \u3000\t"])
def test_blank_inputs_are_refused_and_the_document_says_so(app: Flask, blank: str) -> None:
    """ST202 on ``POST /v1/jobs/embeddings``: the schema's ECMA ``\\S`` took U+001F for text, Python's strip() not."""
    body = {"model": "m", "modality": "audio", "input": ["aGk=", blank]}
    answer = app.test_client().post("/v1/jobs/embeddings", json=body, headers=AUTH)
    assert answer.status_code == 400 and _error_code(answer) == "empty_input"
    assert answer.get_json()["error"]["param"] == "input[1]"
    assert not _conforms("EmbeddingsRequest", body)
    assert _conforms("EmbeddingsRequest", {**body, "input": ["aGk=", "\ufeff"]})  # not whitespace to Python


def test_url_values_over_the_bound_are_refused_with_a_400_naming_them(app: Flask) -> None:
    """ST201 + ST103 on ``POST /v1/images/questions``: a 2001-character question in the query made a request line
    over gunicorn's 8190 bytes, refused with an undocumented 414 (and a schema-valid 2000 would have been too)."""
    question = "\U0001f600" * (MAX_URL_VALUE_CHARS + 1)
    answer = app.test_client().post("/v1/images/questions", query_string={"question": question}, data=b"\x89PNG",
                                    content_type="image/png", headers=AUTH)
    assert answer.status_code == 400 and _error_code(answer) == "parameter_too_long"
    assert answer.get_json()["error"]["param"] == "question"
    answer = app.test_client().get(f"/v1/jobs/{'j' * (MAX_URL_VALUE_CHARS + 1)}", headers=AUTH)
    assert answer.status_code == 400 and _error_code(answer) == "parameter_too_long"


def _chat(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages)}


IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
AUDIO = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
TEXT = {"type": "text", "text": "Be brief."}


@pytest.mark.parametrize("body", [
    _chat({"role": "system", "content": [TEXT]}, {"role": "user", "content": [TEXT, IMAGE]}),
    _chat({"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"},
          {"role": "assistant", "content": None}, {"role": "user", "content": [IMAGE]}),
    _chat({"role": "assistant", "content": [TEXT]}, {"role": "user", "content": [AUDIO]}),
])
def test_chat_messages_the_schema_allows_pass_the_gateway(app: Flask, body: dict[str, Any]) -> None:
    assert _conforms("ChatCompletionRequest", body)
    answer = app.test_client().post("/v1/chat/completions", json=body, headers=AUTH)
    assert answer.status_code == 503, answer.get_json()  # validated, then the (closed) upstream was called


@pytest.mark.parametrize(("message", "role"), [
    ({"role": "system", "content": [TEXT, IMAGE]}, "system"),
    ({"role": "developer", "content": [AUDIO]}, "developer"),
    ({"role": "assistant", "content": [IMAGE]}, "assistant"),
])
def test_chat_parts_a_role_does_not_take_are_refused_by_both(app: Flask, message: dict[str, Any], role: str) -> None:
    """Per role, as OpenAI's API: only user messages carry images and recordings."""
    body = _chat(message, {"role": "user", "content": "hi"})
    assert not _conforms("ChatCompletionRequest", body)
    answer = app.test_client().post("/v1/chat/completions", json=body, headers=AUTH)
    assert answer.status_code == 400 and _error_code(answer) == "unsupported_content_part"
    error = answer.get_json()["error"]
    assert error["param"] == f"messages[0].content[{len(message['content']) - 1}]"
    assert f"a {role} message takes only text parts" in error["message"]


@pytest.mark.parametrize("message", [{"role": "user"}, {"role": "system", "content": None},
                                     {"role": "tool", "content": "x"},
                                     # a 500 the fuzzer found in the per-role check: an unhashable part type
                                     {"role": "assistant", "content": [{"text": "", "type": {}}]},
                                     {"role": ["user"], "content": [{"type": ["text"]}, 3]}])
def test_chat_messages_without_the_content_their_role_needs_are_refused(app: Flask, message: dict[str, Any]) -> None:
    body = _chat(message)
    assert not _conforms("ChatCompletionRequest", body)
    answer = app.test_client().post("/v1/chat/completions", json=body, headers=AUTH)
    assert answer.status_code == 400 and answer.get_json()["error"]["param"].startswith("messages[0]")


@pytest.mark.parametrize(("path", "body", "param"), [
    # a 500 the 30-minute run found: orjson cannot write a number past 64 bits into the encoder's request
    ("/v1/embeddings", {"model": "tiny-blip", "input": "x", "dimensions": 103837264224992337346953216}, "dimensions"),
    ("/v1/jobs/embeddings", {"model": "m", "input": "x", "dimensions": 2**64}, "dimensions"),
    ("/v1/chat/completions", {**_chat({"role": "user", "content": "hi"}), "seed": 2**64}, "seed"),
])
def test_integers_past_their_bound_are_refused_by_the_gateway(app: Flask, path: str, body: dict[str, Any],
                                                             param: str) -> None:
    schema = "ChatCompletionRequest" if "chat" in path else "EmbeddingsRequest"
    assert not _conforms(schema, body)
    answer = app.test_client().post(path, json=body, headers=AUTH)
    assert answer.status_code == 400 and answer.get_json()["error"]["param"] == param
