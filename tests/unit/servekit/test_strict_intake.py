"""The strict JSON and multipart intake (servekit/jsonbody.py, servekit/formfields.py): every malformed body is
a 400 in the shared error shape, never a 5xx, and the service keeps answering."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from servekit.app import create_service_app
from servekit.errors import InvalidInput
from servekit.jsonbody import MAX_JSON_DEPTH, nesting_depth, parse_strict
from servekit.settings import ServiceSettings
from servekit.uploads import field_values, uploaded_files
from servekit.validation import parse_json


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int = Field(1, ge=1)
    ratio: float = 0.5


def _app() -> Flask:
    app = create_service_app("intake-test", ServiceSettings(log_level="WARNING"))

    @app.post("/json")
    def json_route() -> Any:
        return jsonify(parse_json(Body).model_dump())

    @app.post("/upload")
    def upload_route() -> Any:
        return jsonify(files=len(uploaded_files()), fields=field_values(request.form))

    return app


@pytest.fixture(scope="module")
def client() -> Any:
    return _app().test_client()


def _post(client: Any, data: bytes | str, content_type: str = "application/json") -> Any:
    return client.post("/json", data=data, content_type=content_type)


def _error(answer: Any) -> dict[str, Any]:
    body = answer.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(("body", "code"), [
    ("[" * 100_000 + "]" * 100_000, "json_too_deep"),
    ('{"name": "x", "ratio": NaN}', "invalid_number"),
    ('{"name": "x", "ratio": Infinity}', "invalid_number"),
    ('{"name": "x", "ratio": -Infinity}', "invalid_number"),
    ('{"name": "x", "ratio": 1e999}', "invalid_number"),
    ('{"name": "x", "name": "y"}', "duplicate_key"),
    ('{"name": "\\ud800"}', "invalid_unicode"),
    ('{"name": ', "invalid_json"),
    ("", "invalid_json"),
    (b"\xff\xfe\xfa", "invalid_json"),
    ('{"name": "x", "count": 1' + "0" * 5000 + "}", "invalid_json"),
])
def test_malformed_json_is_a_400_with_a_stable_code(client: Any, body: str, code: str) -> None:
    answer = _post(client, body)
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert _error(answer)["code"] == code
    assert _post(client, '{"name": "still here"}').status_code == 200


def test_duplicate_key_names_the_key(client: Any) -> None:
    assert _error(_post(client, '{"name": "x", "count": 1, "count": 2}'))["param"] == "count"


def test_wrong_types_are_named_by_field(client: Any) -> None:
    error = _error(_post(client, '{"name": "x", "count": "many"}'))
    assert error["param"] == "count" and error["code"] == "invalid_input"


def test_integral_numbers_are_integers_as_json_schema_counts_them(client: Any) -> None:
    answer = _post(client, '{"name": "x", "count": 3.0, "ratio": 1e0}')
    assert answer.status_code == 200 and answer.get_json()["count"] == 3
    assert _post(client, '{"name": "x", "count": 3.5}').status_code == 400


def test_other_content_types_are_a_415(client: Any) -> None:
    assert _post(client, '{"name": "x"}', "text/plain").status_code == 415


def test_valid_json_passes_with_brackets_and_quotes_inside_strings(client: Any) -> None:
    name = '[[[{{{ "\\" ]]' * 50
    answer = client.post("/json", json={"name": name, "ratio": 1e300})
    assert answer.status_code == 200 and answer.get_json()["name"] == name


def test_depth_counts_only_structure() -> None:
    assert nesting_depth(b'{"a": [1, {"b": "[[[[["}]}') == 3
    assert nesting_depth(b'"[[["') == 0
    deep = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert parse_strict(deep) is not None
    with pytest.raises(InvalidInput):
        parse_strict(b"[" + deep + b"]")


def _multipart(parts: list[tuple[str, bytes]]) -> bytes:
    chunks = [b"--b\r\nContent-Disposition: form-data" + disposition.encode() + b"\r\n\r\n" + value + b"\r\n"
              for disposition, value in parts]
    return b"".join(chunks) + b"--b--\r\n"


@pytest.mark.parametrize("parts", [
    [("", b"no name at all"), ('; name="file"; filename="a.png"', b"x")],
    [('; filename="a.png"', b"a file without a name")],
    [('; name=""', b"empty name"), ('; name="file"; filename="a.png"', b"x")],
    [('; name="a\x01b"', b"control character"), ('; name="file"; filename="a.png"', b"x")],
])
def test_multipart_parts_without_a_usable_name_are_a_400(client: Any, parts: list[tuple[str, bytes]]) -> None:
    answer = client.post("/upload", data=_multipart(parts), content_type="multipart/form-data; boundary=b")
    assert answer.status_code == 400, answer.get_data(as_text=True)
    assert _error(answer)["code"] == "invalid_multipart"


def test_named_multipart_parts_pass(client: Any) -> None:
    parts = [('; name="top_k"', b"3"), ('; name="file"; filename="a.png"', b"x")]
    answer = client.post("/upload", data=_multipart(parts), content_type="multipart/form-data; boundary=b")
    assert answer.status_code == 200 and answer.get_json() == {"files": 1, "fields": {"top_k": "3"}}
