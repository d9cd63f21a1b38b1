"""Bearer tokens: signatures from the JWKS (RS256, ES256) or an HS256 secret; expiry, issuer, audience, skew."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from gateway.oauth import JwtVerifier, TokenRejected, looks_like_jwt
from gateway.settings import GatewaySettings
from tests.support.tokens import AUDIENCE, ISSUER, TokenMint, hs256_token

SECRET = "a-long-test-secret-for-hs256-tokens-0123456789"


@pytest.fixture(scope="module")
def mint() -> TokenMint:
    return TokenMint.generate()


@pytest.fixture(scope="module")
def verifier(mint: TokenMint, tmp_path_factory: pytest.TempPathFactory) -> JwtVerifier:
    jwks = mint.write_jwks(tmp_path_factory.mktemp("jwks") / "jwks.json")
    settings = GatewaySettings(jwt_jwks_file=str(jwks), jwt_hs256_secret=SECRET, jwt_issuer=ISSUER,
                               jwt_audience=AUDIENCE, jwt_leeway_s=30)
    verifier = JwtVerifier.from_settings(settings)
    assert verifier is not None
    return verifier


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_asymmetric_tokens_give_subject_and_scopes(mint: TokenMint, verifier: JwtVerifier, algorithm: str) -> None:
    claims = verifier.verify(mint.token("embeddings images", subject="alice", algorithm=algorithm))
    assert claims.subject == "alice"
    assert claims.scopes == {"embeddings", "images"}


def test_hs256_and_scp_list(verifier: JwtVerifier) -> None:
    assert verifier.verify(hs256_token(SECRET, "audio")).scopes == {"audio"}
    now = int(time.time())
    token = jwt.encode({"sub": "s", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60, "scp": ["a", "b"]}, SECRET,
                       algorithm="HS256")
    assert verifier.verify(token).scopes == {"a", "b"}


def test_clock_skew_is_allowed_up_to_the_leeway(mint: TokenMint, verifier: JwtVerifier) -> None:
    assert verifier.verify(mint.token("audio", ttl_s=-10)).subject == "user-1"
    with pytest.raises(TokenRejected) as rejected:
        verifier.verify(mint.token("audio", ttl_s=-60))
    assert rejected.value.expired


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"issuer": "https://evil.example"}, "issuer"),
        ({"audience": "someone-else"}, "audience"),
    ],
)
def test_wrong_issuer_or_audience(mint: TokenMint, verifier: JwtVerifier, changes: dict[str, str],
                                  reason: str) -> None:
    with pytest.raises(TokenRejected, match=reason):
        verifier.verify(mint.token("audio", **changes))


def test_a_token_signed_by_another_key_or_tampered_or_unsigned_is_refused(verifier: JwtVerifier) -> None:
    stranger = TokenMint.generate()
    with pytest.raises(TokenRejected, match="signature"):
        verifier.verify(stranger.token("admin"))
    with pytest.raises(TokenRejected):
        verifier.verify(hs256_token("not-the-secret-but-long-enough-0123456789", "admin"))
    unsigned = jwt.encode({"sub": "x", "exp": int(time.time()) + 60, "scope": "admin"}, None, algorithm="none")
    with pytest.raises(TokenRejected, match="algorithm"):
        verifier.verify(unsigned)


def test_tampered_payload_fails_the_signature(mint: TokenMint, verifier: JwtVerifier) -> None:
    header, payload, signature = mint.token("audio").split(".")
    forged = jwt.utils.base64url_encode(b'{"sub":"x","scope":"admin","exp":9999999999}').decode()
    with pytest.raises(TokenRejected):
        verifier.verify(f"{header}.{forged}.{signature}")


def test_missing_subject_is_refused(mint: TokenMint, verifier: JwtVerifier) -> None:
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 60}, mint.rsa_key, algorithm="RS256",
                       headers={"kid": "rsa-1"})
    with pytest.raises(TokenRejected, match="sub"):
        verifier.verify(token)


def test_jwt_shape_detection(mint: TokenMint) -> None:
    assert looks_like_jwt(mint.token("x"))
    assert not looks_like_jwt("sk-local-abc.def")


def test_no_verifier_without_keys(tmp_path: Path) -> None:
    assert JwtVerifier.from_settings(GatewaySettings()) is None


def test_the_minting_cli_makes_tokens_the_gateway_accepts(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.tokens import main

    monkeypatch.setenv("GATEWAY_JWT_HS256_SECRET", SECRET)
    monkeypatch.setenv("GATEWAY_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("GATEWAY_JWT_AUDIENCE", AUDIENCE)
    main(["--scope", "embeddings audio", "--subject", "cli-user"])
    token = capsys.readouterr().out.strip()
    verifier = JwtVerifier.from_settings(GatewaySettings())
    assert verifier is not None
    claims = verifier.verify(token)
    assert (claims.subject, claims.scopes) == ("cli-user", {"embeddings", "audio"})
