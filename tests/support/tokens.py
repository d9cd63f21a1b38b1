"""Keys and OAuth2 tokens minted by the tests: an RS256 and an ES256 key pair, their JWKS, and signed JWTs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://idp.test.example"
AUDIENCE = "polyserve"


@dataclass
class TokenMint:
    """Signs tokens with keys it generated; ``write_jwks`` publishes the public halves."""

    rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> TokenMint:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                   ec.generate_private_key(ec.SECP256R1()))

    def jwks(self) -> dict[str, Any]:
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        ec_jwk = json.loads(ECAlgorithm.to_jwk(self.ec_key.public_key()))
        return {"keys": [{**rsa_jwk, "kid": "rsa-1", "alg": "RS256", "use": "sig"},
                         {**ec_jwk, "kid": "ec-1", "alg": "ES256", "use": "sig"}]}

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks()))
        return path

    def token(self, scope: str = "", *, subject: str = "user-1", algorithm: str = "RS256", ttl_s: float = 300,
              issuer: str = ISSUER, audience: str = AUDIENCE, **claims: Any) -> str:
        now = int(time.time())
        payload = {"sub": subject, "iss": issuer, "aud": audience, "iat": now, "exp": now + int(ttl_s),
                   "scope": scope, **claims}
        if algorithm == "ES256":
            return jwt.encode(payload, self.ec_key, algorithm="ES256", headers={"kid": "ec-1"})
        return jwt.encode(payload, self.rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})


def hs256_token(secret: str, scope: str, *, subject: str = "svc-1", ttl_s: float = 300) -> str:
    now = int(time.time())
    return jwt.encode({"sub": subject, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + int(ttl_s),
                       "scope": scope}, secret, algorithm="HS256")
