"""Settings of the production gateway: TLS pairs, gunicorn options, key files with scopes, limit lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.auth import ApiKeyStore, KeyGrant, load_grants, load_keys
from gateway.limits import limit_for, storage_uri
from gateway.settings import GatewaySettings


def test_tls_needs_both_files_and_turns_into_gunicorn_options() -> None:
    assert GatewaySettings().gunicorn_options() == {}
    options = GatewaySettings(tls_cert_file="/c.pem", tls_key_file="/k.pem").gunicorn_options()
    assert options == {"certfile": "/c.pem", "keyfile": "/k.pem"}
    with pytest.raises(ValidationError, match="TLS"):
        GatewaySettings(tls_cert_file="/c.pem")


def test_tls_and_redis_come_from_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_TLS_CERT_FILE", "/etc/tls/tls.crt")
    monkeypatch.setenv("GATEWAY_TLS_KEY_FILE", "/etc/tls/tls.key")
    monkeypatch.setenv("GATEWAY_REDIS_URL", "redis://redis:6379/1")
    monkeypatch.setenv("GATEWAY_RATE_LIMITS", '{"/v1/embeddings": "5/second"}')
    settings = GatewaySettings()
    assert settings.gunicorn_options()["certfile"] == "/etc/tls/tls.crt"
    assert storage_uri(settings) == "redis://redis:6379/1"
    assert settings.rate_limits == {"/v1/embeddings": "5/second"}
    assert storage_uri(GatewaySettings(_env_file=None, redis_url=None)) == "memory://"


def test_key_file_lines_carry_scopes(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("sk-a embeddings images\n\n# comment\nsk-b   # everything\nsk-c collections:read\n")
    settings = GatewaySettings(api_keys="sk-env audio, sk-plain", api_keys_file=str(keys))
    grants = load_grants(settings)
    assert grants == [KeyGrant("sk-env", frozenset({"audio"})), KeyGrant("sk-plain", None),
                      KeyGrant("sk-a", frozenset({"embeddings", "images"})), KeyGrant("sk-b", None),
                      KeyGrant("sk-c", frozenset({"collections:read"}))]
    assert load_keys(settings) == ["sk-env", "sk-plain", "sk-a", "sk-b", "sk-c"]
    store = ApiKeyStore(grants, default_scopes=frozenset({"embeddings"}))
    assert store.lookup("sk-b") == {"embeddings"}
    assert store.lookup("sk-a") == {"embeddings", "images"}
    assert store.lookup("sk-a ") is None and not store.check("nope")


def test_the_most_specific_configured_limit_wins() -> None:
    limits = {"/v1/jobs": "10/minute", "/v1/jobs/embeddings": "2/minute", "/v1/images": "30/minute"}
    assert limit_for("/v1/jobs/embeddings", limits, "600/minute") == "2/minute"
    assert limit_for("/v1/jobs/<job_id>", limits, "600/minute") == "10/minute"
    assert limit_for("/v1/images/ocr", limits, "600/minute") == "30/minute"
    assert limit_for("/v1/imagesx", limits, "600/minute") == "600/minute"
    assert limit_for("/v1/embeddings", limits, "600/minute") == "600/minute"


def test_a_malformed_limit_fails_at_startup() -> None:
    with pytest.raises(ValidationError, match="rate limit"):
        GatewaySettings(rate_limit_default="lots")
    with pytest.raises(ValidationError, match="rate limit"):
        GatewaySettings(rate_limits={"/v1/embeddings": "10 per fortnight-ish"})


def test_a_short_hs256_secret_fails_at_startup() -> None:
    with pytest.raises(ValidationError, match="jwt_hs256_secret"):
        GatewaySettings(jwt_hs256_secret="too-short")
