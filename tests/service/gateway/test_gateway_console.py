"""The web console and the API docs are static pages the gateway serves without a key, each with its own assets
only (no CDN), under a Content-Security-Policy that allows nothing else."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.support.processes import free_port


@pytest.fixture(scope="module")
def client() -> FlaskClient:
    unreachable = f"http://127.0.0.1:{free_port()}"
    settings = GatewaySettings(api_keys="sk-console", text_url=unreachable, vision_url=unreachable,
                               audio_url=unreachable, fusion_url=unreachable, cache_enabled=False)
    return create_app(settings).test_client()


def _local_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_console_is_served_without_a_key_with_a_strict_policy(client: FlaskClient) -> None:
    assert client.get("/console").headers["Location"].endswith("/console/")
    page = client.get("/console/")
    assert page.status_code == 200 and "polyserve console" in page.text
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in page.text  # no inline script: the policy would block it


def test_every_console_asset_is_local_and_served(client: FlaskClient) -> None:
    page = client.get("/console/").text
    assets = [a for a in _local_assets(page) if not a.startswith("#")]
    assert assets and not [a for a in assets if "//" in a]
    for asset in assets:
        assert client.get(f"/console/{asset}").status_code == 200, asset
    main = client.get("/console/js/main.js").text
    for module in re.findall(r'from "\./([^"]+)"', main):
        answer = client.get(f"/console/js/{module}")
        assert answer.status_code == 200 and "javascript" in answer.content_type, module
        assert "http://" not in answer.text and "https://" not in answer.text, module


def test_console_paths_outside_its_folder_are_not_served(client: FlaskClient) -> None:
    assert client.get("/console/../app.py").status_code == 404
    assert client.get("/console/%2e%2e/app.py").status_code == 404
    assert client.get("/console/no-such-file.js").status_code == 404


def test_docs_page_uses_swagger_ui_5_from_the_gateway(client: FlaskClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assets = _local_assets(page.text)
    assert assets and all(a.startswith("/docs/static/") for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
    bundle = client.get("/docs/static/swagger-ui-bundle.js").get_data(as_text=True)
    # Swagger UI renders OpenAPI 3.1 from version 5 on; the document the gateway serves is 3.1.
    assert "OpenAPI 3.1" in bundle or "openapi31" in bundle.lower()
    document = client.get("/openapi.json").get_json()
    assert isinstance(document, dict) and document["openapi"].startswith("3.1")
    init = client.get("/docs/static/polyserve-docs.js").text
    assert "tryItOutEnabled: true" in init and "persistAuthorization: false" in init
