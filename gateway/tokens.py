"""``python -m gateway.tokens --scope embeddings``: mint an HS256 access token for a simple setup.

Signs with ``GATEWAY_JWT_HS256_SECRET`` and stamps the configured issuer and audience, so the token passes
the gateway's own checks. Production setups get tokens from their identity provider (JWKS, RS256/ES256).
"""

from __future__ import annotations

import argparse
import time

import jwt

from gateway.settings import GatewaySettings


def mint(settings: GatewaySettings, scope: str, subject: str, ttl_s: int) -> str:
    if settings.jwt_hs256_secret is None:
        raise SystemExit("set GATEWAY_JWT_HS256_SECRET (the gateway must have it too)")
    now = int(time.time())
    claims: dict[str, object] = {"sub": subject, "scope": scope, "iat": now, "exp": now + ttl_s}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_hs256_secret.get_secret_value(), algorithm="HS256")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scope", required=True, help='space-separated scopes, e.g. "embeddings audio"')
    parser.add_argument("--subject", default="local-user", help="the token's sub (rate limits and job owner)")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    args = parser.parse_args(argv)
    print(mint(GatewaySettings(), args.scope, args.subject, args.ttl))


if __name__ == "__main__":
    main()
