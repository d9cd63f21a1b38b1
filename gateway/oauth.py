"""OAuth2 bearer tokens (JWT) verified with PyJWT: keys from a JWKS file or URL (RS256/ES256) or an HS256 secret,
with signature, expiry, issuer and audience checks and a small clock-skew allowance."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from gateway.scopes import parse_scopes
from gateway.settings import GatewaySettings

HS256 = "HS256"


class TokenRejected(Exception):
    """The token is not acceptable; ``reason`` is safe to show the caller (no key material, no claims)."""

    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.expired = expired


class KeysUnavailable(Exception):
    """The identity provider's JWKS URL cannot be reached: not the caller's fault."""


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    scopes: frozenset[str]


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("ey")


def _scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    """``scope`` (RFC 8693, space-separated) or ``scp`` (a list, as some providers send)."""
    scope = claims.get("scope")
    if isinstance(scope, str):
        return parse_scopes(scope)
    scp = claims.get("scp")
    if isinstance(scp, list):
        return frozenset(str(s) for s in scp)
    if isinstance(scp, str):
        return parse_scopes(scp)
    return frozenset()


class JwtVerifier:
    """Verifies bearer tokens; built once per app from the gateway settings."""

    def __init__(self, settings: GatewaySettings) -> None:
        self._algorithms = [a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()]
        self._secret = settings.jwt_hs256_secret.get_secret_value() if settings.jwt_hs256_secret else None
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._leeway = settings.jwt_leeway_s
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_client: jwt.PyJWKClient | None = None
        if settings.jwt_jwks_file:
            self._jwks = jwt.PyJWKSet.from_dict(json.loads(Path(settings.jwt_jwks_file).read_text()))
        if settings.jwt_jwks_url:
            self._jwks_client = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True,
                                                lifespan=settings.jwt_jwks_cache_s, timeout=5)

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> JwtVerifier | None:
        configured = settings.jwt_jwks_file or settings.jwt_jwks_url or settings.jwt_hs256_secret
        return cls(settings) if configured else None

    def _key_for(self, token: str, header: dict[str, Any]) -> tuple[Any, str]:
        algorithm = str(header.get("alg", ""))
        if algorithm == HS256 and self._secret:
            return self._secret, algorithm
        if algorithm not in self._algorithms:
            raise TokenRejected(f"token algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        if self._jwks is not None:
            keys = [k for k in self._jwks.keys if kid is None or k.key_id == kid]
            if len(keys) == 1 or (keys and kid is not None):
                return keys[0].key, algorithm
        if self._jwks_client is not None:
            try:
                return self._jwks_client.get_signing_key_from_jwt(token).key, algorithm
            except jwt.PyJWKClientConnectionError:
                raise KeysUnavailable("the identity provider's keys cannot be fetched") from None
            except jwt.PyJWKClientError:
                raise TokenRejected("no key of the identity provider matches the token") from None
        raise TokenRejected("no configured key matches the token")

    def verify(self, token: str) -> TokenClaims:
        """The subject and scopes of a valid token; :class:`TokenRejected` otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            key, algorithm = self._key_for(token, header)
            required = ["exp", "sub"] + (["iss"] if self._issuer else []) + (["aud"] if self._audience else [])
            claims = jwt.decode(token, key, algorithms=[algorithm], audience=self._audience, issuer=self._issuer,
                                leeway=self._leeway, options={"require": required,
                                                              "verify_aud": self._audience is not None})
        except jwt.ExpiredSignatureError:
            raise TokenRejected("the token has expired", expired=True) from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("the token is not meant for this audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("the token comes from an unknown issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected(f"the token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidTokenError:
            raise TokenRejected("the token is malformed or its signature is wrong") from None
        return TokenClaims(subject=str(claims["sub"]), scopes=_scopes_of(claims))
