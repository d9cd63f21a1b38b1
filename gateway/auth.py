"""Who is calling and what they may do: API keys (kept only as SHA-256 digests, compared in constant time) and
OAuth2 bearer tokens (JWT, see :mod:`gateway.oauth`), each carrying scopes checked against :mod:`gateway.scopes`.

Failures are JSON errors with an RFC 6750 ``WWW-Authenticate`` challenge: 401 for missing or bad credentials,
403 (``insufficient_scope``) when the credentials lack the route's scope.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, g, request

from gateway.oauth import JwtVerifier, KeysUnavailable, TokenRejected, looks_like_jwt
from gateway.scopes import ADMIN, allows, parse_scopes, required_scope
from gateway.settings import GatewaySettings
from servekit.errors import Forbidden, Unauthorized, UpstreamUnavailable

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/openapi.yaml"})
PUBLIC_PREFIXES = ("/docs", "/console")


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass(frozen=True)
class Identity:
    """The authenticated caller: a stable subject (rate limits, job ownership) and its scopes."""

    subject: str
    scopes: frozenset[str]
    method: str  # "api_key" or "jwt"

    def allows(self, scope: str | None) -> bool:
        return allows(self.scopes, scope)


@dataclass(frozen=True)
class KeyGrant:
    key: str
    scopes: frozenset[str] | None  # None: the configured default scopes


def _grant(entry: str) -> KeyGrant:
    """``key`` or ``key scope scope ...`` (keys never hold spaces)."""
    key, _, scopes = entry.partition(" ")
    return KeyGrant(key.strip(), parse_scopes(scopes) if scopes.strip() else None)


def load_grants(settings: GatewaySettings) -> list[KeyGrant]:
    """Keys with their scopes from ``GATEWAY_API_KEYS`` and ``GATEWAY_API_KEYS_FILE`` (``#`` starts a comment)."""
    entries = [k.strip() for k in settings.api_keys.split(",") if k.strip()]
    if settings.api_keys_file:
        for line in Path(settings.api_keys_file).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                entries.append(line)
    return [_grant(entry) for entry in entries]


def load_keys(settings: GatewaySettings) -> list[str]:
    """The keys alone, without their scopes."""
    return [grant.key for grant in load_grants(settings)]


class ApiKeyStore:
    """Holds digests, never keys; a lookup compares against every digest so timing reveals nothing."""

    def __init__(self, keys: list[str] | list[KeyGrant], default_scopes: frozenset[str] = frozenset({"*"})) -> None:
        grants = [k if isinstance(k, KeyGrant) else KeyGrant(k, None) for k in keys]
        self._entries = [(_digest(g.key), g.scopes if g.scopes is not None else default_scopes) for g in grants]

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: str) -> frozenset[str] | None:
        """The scopes of ``key``, or None when it is unknown."""
        given = _digest(key)
        found: frozenset[str] | None = None
        for digest, scopes in self._entries:
            if hmac.compare_digest(given, digest):
                found = scopes
        return found

    def check(self, key: str) -> bool:
        return self.lookup(key) is not None


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("X-API-Key") or None


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _challenge(error: str | None = None, description: str | None = None, scope: str | None = None) -> dict[str, str]:
    params = ['realm="polyserve"']
    if error:
        params.append(f'error="{error}"')
    if description:
        params.append(f'error_description="{description}"')
    if scope:
        params.append(f'scope="{scope}"')
    return {"WWW-Authenticate": "Bearer " + ", ".join(params)}


class Authenticator:
    """Turns the request's credentials into an :class:`Identity` or a 401."""

    def __init__(self, store: ApiKeyStore, verifier: JwtVerifier | None = None) -> None:
        self.store = store
        self.verifier = verifier

    def identify(self, token: str | None) -> Identity:
        if token is None:
            raise Unauthorized("missing credentials: send 'Authorization: Bearer <API key or token>'",
                               code="missing_api_key", headers=_challenge())
        if self.verifier is not None and looks_like_jwt(token):
            try:
                claims = self.verifier.verify(token)
            except TokenRejected as rejected:
                raise Unauthorized(f"invalid bearer token: {rejected.reason}",
                                   code="token_expired" if rejected.expired else "invalid_token",
                                   headers=_challenge("invalid_token", rejected.reason)) from None
            except KeysUnavailable:
                raise UpstreamUnavailable("the identity provider's signing keys cannot be fetched; retry later",
                                          code="identity_provider_unavailable", headers={"Retry-After": "5"}) \
                    from None
            return Identity(f"jwt:{claims.subject}", claims.scopes, "jwt")
        scopes = self.store.lookup(token)
        if scopes is None:
            raise Unauthorized("invalid API key", code="invalid_api_key", headers=_challenge("invalid_token"))
        return Identity("key:" + hashlib.sha256(token.encode()).hexdigest()[:16], scopes, "api_key")


def check_scope(identity: Identity) -> None:
    """403 unless the caller holds the scope of the matched route (unmatched paths are left to the 404)."""
    rule = request.url_rule
    if rule is None:
        return
    scope = required_scope(rule.rule, request.method)
    if not identity.allows(scope):
        raise Forbidden(f"this route needs the {scope!r} scope", code="insufficient_scope",
                        headers=_challenge("insufficient_scope", f"the {scope} scope is required", scope))


def current_identity() -> Identity | None:
    identity: Identity | None = g.get("identity")
    return identity


def is_admin() -> bool:
    identity = current_identity()
    return identity is None or identity.allows(ADMIN)  # None: authentication disabled


def install_auth(app: Flask, authenticator: Authenticator) -> None:
    """Authenticate every non-public request, then check the route's scope."""
    if not len(authenticator.store) and authenticator.verifier is None:
        log.warning("no API keys and no token keys configured: every /v1 request will be refused "
                    "(set GATEWAY_API_KEYS or GATEWAY_JWT_*)")

    @app.before_request
    def _authenticate() -> None:
        if is_public(request.path) or request.method == "OPTIONS":
            return
        identity = authenticator.identify(bearer_token())
        g.identity = identity
        g.principal = identity.subject
        check_scope(identity)


def build_authenticator(settings: GatewaySettings) -> Authenticator:
    default_scopes = parse_scopes(settings.api_key_default_scopes)
    return Authenticator(ApiKeyStore(load_grants(settings), default_scopes), JwtVerifier.from_settings(settings))
