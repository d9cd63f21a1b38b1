"""API-key authentication: keys from configuration, kept only as SHA-256 digests, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path

from flask import Flask, g, request

from gateway.settings import GatewaySettings
from servekit.errors import Unauthorized

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/openapi.yaml"})
PUBLIC_PREFIXES = ("/docs",)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def load_keys(settings: GatewaySettings) -> list[str]:
    """Keys from ``GATEWAY_API_KEYS`` and the lines of ``GATEWAY_API_KEYS_FILE`` (``#`` starts a comment)."""
    keys = [k.strip() for k in settings.api_keys.split(",") if k.strip()]
    if settings.api_keys_file:
        for line in Path(settings.api_keys_file).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                keys.append(line)
    return keys


class ApiKeyStore:
    """Holds digests, never keys; ``check`` compares against every digest so timing reveals nothing."""

    def __init__(self, keys: list[str]) -> None:
        self._digests = [_digest(k) for k in keys]

    def __len__(self) -> int:
        return len(self._digests)

    def check(self, key: str) -> bool:
        given = _digest(key)
        found = False
        for digest in self._digests:
            found |= hmac.compare_digest(given, digest)
        return found


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-API-Key") or None


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def install_api_key_auth(app: Flask, store: ApiKeyStore) -> None:
    """401 with a JSON error and ``WWW-Authenticate`` for a missing or unknown key."""
    if not len(store):
        log.warning("no API keys configured: every /v1 request will be refused (set GATEWAY_API_KEYS)")
    challenge = {"WWW-Authenticate": 'Bearer realm="polyserve"'}

    @app.before_request
    def _authenticate() -> None:
        if is_public(request.path) or request.method == "OPTIONS":
            return
        token = bearer_token()
        if token is None:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key",
                               headers=challenge)
        if not store.check(token):
            raise Unauthorized("invalid API key", code="invalid_api_key", headers=challenge)
        g.principal = hashlib.sha256(token.encode()).hexdigest()[:16]
