"""The request schemas of the OpenAPI document are the pydantic models' own (gateway/openapi_models.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.openapi_doc import build_document
from gateway.openapi_models import fragment_text

FRAGMENT = Path(__file__).resolve().parents[3] / "gateway" / "openapi" / "generated.yaml"


def test_generated_fragment_equals_the_models() -> None:
    assert FRAGMENT.read_text() == fragment_text(), (
        "regenerate: PYTHONPATH=$PWD python -m gateway.openapi_models > gateway/openapi/generated.yaml")


def test_every_v1_operation_documents_the_statuses_its_layers_can_answer() -> None:
    document = build_document()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not path.startswith("/v1/") or method not in {"get", "post", "delete"}:
                continue
            statuses = set(operation["responses"])
            assert {"401", "403", "429", "503", "504"} <= statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "404", "413", "415"} <= statuses, (method, path)


def test_request_bodies_refuse_unknown_fields() -> None:
    schemas = build_document()["components"]["schemas"]
    for name in ("EmbeddingsRequest", "SearchRequest", "UpsertItems", "ImageCaptionRequest", "TranscriptionUpload",
                 "JsonTranscribeRequest", "CreateCollection"):
        assert schemas[name]["additionalProperties"] is False, name


def test_links_chain_collections_items_and_jobs_for_stateful_fuzzing() -> None:
    document = build_document()
    created = document["paths"]["/v1/collections"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in created.values()} >= {"upsertItems", "searchCollection",
                                                                 "retrieveCollection", "deleteCollection"}
    upserted = document["paths"]["/v1/collections/{name}/items"]["post"]["responses"]["200"]["links"]
    assert {link["operationId"] for link in upserted.values()} >= {"retrieveItem", "deleteItem"}
    accepted = document["components"]["responses"]["JobAccepted"]["links"]
    assert {link["operationId"] for link in accepted.values()} == {"getJob", "getJobResult", "cancelJob"}


def _longest_value(schema: dict[str, Any]) -> int:
    """Bytes of the longest value ``schema`` allows in a URL: 12 per character (4 UTF-8 bytes, percent-encoded)."""
    if schema.get("type") == "string":
        return 12 * max(map(len, schema["enum"])) if "enum" in schema else 12 * schema["maxLength"]
    if schema.get("type") == "array":
        return schema["maxItems"] * (max(map(len, schema["items"]["enum"])) + 32)  # the name repeated each time
    return 32  # a number or a boolean


def test_every_request_the_document_allows_fits_in_the_request_line() -> None:
    """gunicorn refuses a request line over 8190 bytes with a 414 the app never sees (found by fuzzing)."""
    document = build_document()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not path.startswith("/v1/") or method not in {"get", "post", "delete"}:
                continue
            assert "414" in operation["responses"], (method, path)
            parameters = [document["components"]["parameters"][p["$ref"].split("/")[-1]] if "$ref" in p else p
                          for p in [*item.get("parameters", []), *operation.get("parameters", [])]]
            line = len(f"{method.upper()} {path}? HTTP/1.1") + sum(len(p["name"]) + 2 + _longest_value(p["schema"])
                                                                   for p in parameters)
            assert line <= 8190, (method, path, line)
