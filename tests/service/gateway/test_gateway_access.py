"""Who may call what, and how often: API keys with scopes, OAuth2 bearer tokens, 401/403, rate limits."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.conftest import TEXT_TOKEN
from tests.support.gateway import upstream_urls
from tests.support.processes import dead_url
from tests.support.tokens import AUDIENCE, ISSUER, TokenMint

BODY = {"model": "all-MiniLM-L6-v2", "input": "scoped request"}

pytest_plugins = ["tests.support.redis_fixtures"]


@pytest.fixture(scope="module")
def mint() -> TokenMint:
    return TokenMint.generate()


@pytest.fixture(scope="module")
def access_settings(mint: TokenMint, text_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("access")
    keys = folder / "keys.txt"
    keys.write_text("# key, then its scopes\nsk-embed embeddings\nsk-images images  # vision only\n"
                    "sk-admin admin embeddings\n")
    return dict(api_keys="sk-all", api_keys_file=str(keys), jwt_jwks_file=str(mint.write_jwks(folder / "jwks.json")),
                jwt_issuer=ISSUER, jwt_audience=AUDIENCE, internal_token=TEXT_TOKEN, cache_enabled=False,
                **upstream_urls({"text": text_url}))


def _client(**settings: Any) -> FlaskClient:
    return create_app(GatewaySettings(**settings)).test_client()


@pytest.fixture(scope="module")
def client(access_settings: dict[str, Any]) -> FlaskClient:
    return _client(**access_settings)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_key_with_the_scope_is_served_and_one_without_gets_403(client: FlaskClient) -> None:
    allowed = client.post("/v1/embeddings", json=BODY, headers=bearer("sk-embed"))
    assert allowed.status_code == 200 and len(allowed.get_json()["data"]) == 1
    refused = client.post("/v1/embeddings", json=BODY, headers=bearer("sk-images"))
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "insufficient_scope"
    challenge = refused.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ") and 'error="insufficient_scope"' in challenge
    assert 'scope="embeddings"' in challenge


def test_keys_without_scopes_get_every_scope_by_default(client: FlaskClient) -> None:
    assert client.post("/v1/embeddings", json=BODY, headers=bearer("sk-all")).status_code == 200
    assert client.delete("/v1/admin/cache", headers=bearer("sk-all")).status_code == 404  # allowed; cache is off


def test_default_scopes_of_plain_keys_can_be_narrowed(access_settings: dict[str, Any]) -> None:
    narrow = _client(**{**access_settings, "api_key_default_scopes": "images"})
    assert narrow.post("/v1/embeddings", json=BODY, headers=bearer("sk-all")).status_code == 403
    assert narrow.post("/v1/embeddings", json=BODY, headers=bearer("sk-embed")).status_code == 200


def test_admin_routes_need_the_admin_scope(client: FlaskClient) -> None:
    assert client.delete("/v1/admin/cache", headers=bearer("sk-embed")).status_code == 403
    assert client.delete("/v1/admin/cache", headers=bearer("sk-admin")).status_code == 404  # cache disabled here


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_token_with_the_scope_is_served(client: FlaskClient, mint: TokenMint, algorithm: str) -> None:
    response = client.post("/v1/embeddings", json=BODY,
                           headers=bearer(mint.token("embeddings", algorithm=algorithm)))
    assert response.status_code == 200


def test_a_token_without_the_scope_gets_403(client: FlaskClient, mint: TokenMint) -> None:
    response = client.post("/v1/embeddings", json=BODY, headers=bearer(mint.token("images audio")))
    assert response.status_code == 403
    assert response.get_json()["error"]["type"] == "permission_error"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer sk-unknown"}, "invalid_api_key"),
        ({"Authorization": "Basic c2stZW1iZWQ6"}, "missing_api_key"),
    ],
)
def test_missing_or_bad_credentials_get_401_with_a_challenge(client: FlaskClient, headers: dict[str, str],
                                                             code: str) -> None:
    response = client.post("/v1/embeddings", json=BODY, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == code
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="polyserve"')


def test_expired_and_foreign_tokens_get_401_invalid_token(client: FlaskClient, mint: TokenMint) -> None:
    expired = client.post("/v1/embeddings", json=BODY, headers=bearer(mint.token("embeddings", ttl_s=-120)))
    assert expired.status_code == 401
    assert expired.get_json()["error"]["code"] == "token_expired"
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    foreign = client.post("/v1/embeddings", json=BODY, headers=bearer(TokenMint.generate().token("embeddings")))
    assert foreign.status_code == 401
    assert foreign.get_json()["error"]["code"] == "invalid_token"


def test_public_paths_need_no_credentials(client: FlaskClient) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def _limited(access_settings: dict[str, Any], **extra: Any) -> FlaskClient:
    return _client(**{**access_settings, "rate_limit_default": "1000/minute",
                      "rate_limits": {"/v1/models": "3/2 seconds"}, **extra})


def _models(client: FlaskClient, key: str) -> Any:
    return client.get("/v1/models", headers=bearer(key))


def test_a_limit_is_hit_per_caller_and_per_route_then_resets(access_settings: dict[str, Any]) -> None:
    client = _limited(access_settings)
    answers = [_models(client, "sk-embed") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert "Retry-After" not in answers[0].headers  # only a refusal says when to come back
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    refused = _models(client, "sk-embed")
    assert refused.status_code == 429
    assert refused.get_json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 3
    assert _models(client, "sk-images").status_code == 200  # another caller has its own counter
    assert client.post("/v1/embeddings", json=BODY, headers=bearer("sk-embed")).status_code == 200  # another route
    time.sleep(int(refused.headers["Retry-After"]) + 0.1)
    assert _models(client, "sk-embed").status_code == 200


def test_token_callers_are_limited_by_subject(access_settings: dict[str, Any], mint: TokenMint) -> None:
    client = _limited(access_settings)
    for _ in range(3):
        assert _models(client, mint.token("embeddings", subject="bob")).status_code == 200
    assert _models(client, mint.token("images", subject="bob")).status_code == 429  # a new token, same subject
    assert _models(client, mint.token("images", subject="carol")).status_code == 200


def test_counters_are_shared_across_replicas_through_redis(access_settings: dict[str, Any], redis_url: str) -> None:
    first, second = _limited(access_settings, redis_url=redis_url), _limited(access_settings, redis_url=redis_url)
    assert [_models(first, "sk-embed").status_code for _ in range(2)] == [200, 200]
    assert _models(second, "sk-embed").status_code == 200
    assert _models(second, "sk-embed").status_code == 429
    assert _models(first, "sk-embed").status_code == 429


def test_memory_counters_are_per_replica(access_settings: dict[str, Any]) -> None:
    first, second = _limited(access_settings), _limited(access_settings)
    assert [_models(first, "sk-embed").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert _models(second, "sk-embed").status_code == 200


def test_limits_can_be_switched_off(access_settings: dict[str, Any]) -> None:
    client = _limited(access_settings, rate_limits_enabled=False)
    assert {_models(client, "sk-embed").status_code for _ in range(5)} == {200}


def test_keys_are_fetched_from_the_identity_provider_jwks_url(access_settings: dict[str, Any],
                                                              mint: TokenMint) -> None:
    from flask import Flask, jsonify

    from tests.support.inprocess import serve_app

    provider = Flask("identity-provider")
    provider.add_url_rule("/.well-known/jwks.json", view_func=lambda: jsonify(mint.jwks()))
    with serve_app(provider) as idp_url:
        client = _client(**{**access_settings, "jwt_jwks_file": None,
                            "jwt_jwks_url": f"{idp_url}/.well-known/jwks.json"})
        ok = client.post("/v1/embeddings", json=BODY, headers=bearer(mint.token("embeddings", algorithm="ES256")))
        assert ok.status_code == 200
        foreign = client.post("/v1/embeddings", json=BODY, headers=bearer(TokenMint.generate().token("embeddings")))
        assert foreign.status_code == 401


def test_an_unreachable_identity_provider_is_a_503_not_a_401(access_settings: dict[str, Any],
                                                             mint: TokenMint) -> None:
    client = _client(**{**access_settings, "jwt_jwks_file": None,
                        "jwt_jwks_url": f"{dead_url()}/jwks.json"})
    response = client.post("/v1/embeddings", json=BODY, headers=bearer(mint.token("embeddings")))
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "identity_provider_unavailable"
    assert client.post("/v1/embeddings", json=BODY, headers=bearer("sk-embed")).status_code == 200  # keys still work
