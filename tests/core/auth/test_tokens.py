"""JWT verification: valid tokens pass; every attack of RFC 8725's list is refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from hld.core.auth.tokens import (
    JWKSError,
    TokenError,
    TokenVerifier,
    VerificationKey,
    hmac_key,
    keys_from_jwks,
    public_key_from_pem,
)

NOW = 1_800_000_000.0
SECRET = b"s" * 32


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "alice", "iss": "hld", "aud": "chirp", "exp": NOW + 60, "iat": NOW, **extra}


@pytest.fixture(scope="module")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_public_pem(rsa_private: rsa.RSAPrivateKey) -> bytes:
    return rsa_private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def verifier(rsa_public_pem: bytes) -> TokenVerifier:
    return TokenVerifier(
        [hmac_key("h1", SECRET), public_key_from_pem("r1", rsa_public_pem, "RS256")],
        issuer="hld", audience="chirp", leeway_s=5)


def test_hs256_token_verifies(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "h1"})
    result = verifier.verify(token, NOW)
    assert (result.subject, result.kid, result.algorithm) == ("alice", "h1", "HS256")


def test_rs256_token_verifies(verifier: TokenVerifier, rsa_private: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(claims(), rsa_private, algorithm="RS256", headers={"kid": "r1"})
    assert verifier.verify(token, NOW).subject == "alice"


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_ec_and_eddsa_tokens_verify(algorithm: str) -> None:
    private: Any = (ec.generate_private_key(ec.SECP256R1()) if algorithm == "ES256"
                    else ed25519.Ed25519PrivateKey.generate())
    key = VerificationKey("k", algorithm, private.public_key())
    token = jwt.encode(claims(), private, algorithm=algorithm, headers={"kid": "k"})
    assert TokenVerifier([key]).verify(token, NOW).subject == "alice"


def refusal(verifier: TokenVerifier, token: str | bytes) -> str:
    with pytest.raises(TokenError) as info:
        verifier.verify(token, NOW)
    return info.value.reason


def test_alg_none_is_refused(verifier: TokenVerifier) -> None:
    header = b64(json.dumps({"alg": "none", "kid": "h1"}).encode())
    token = f"{header}.{b64(json.dumps(claims()).encode())}."
    assert refusal(verifier, token) == "alg"


def test_hmac_signed_with_the_rsa_public_key_is_refused(
        verifier: TokenVerifier, rsa_public_pem: bytes) -> None:
    """Key confusion: the attacker signs HS256 with the public PEM as the HMAC secret."""
    header = b64(json.dumps({"alg": "HS256", "kid": "r1", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims()).encode())
    import hashlib
    import hmac

    signature = hmac.new(rsa_public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    assert refusal(verifier, f"{header}.{body}.{b64(signature)}") == "alg"


@pytest.mark.parametrize(("extra", "reason"), [
    ({"exp": NOW - 10}, "expired"),
    ({"nbf": NOW + 60}, "not_yet_valid"),
    ({"iat": NOW + 60}, "not_yet_valid"),
    ({"aud": "other"}, "audience"),
    ({"aud": ["x", "y"]}, "audience"),
    ({"iss": "evil"}, "issuer"),
    ({"exp": "tomorrow"}, "claims"),
])
def test_bad_claims_are_refused(verifier: TokenVerifier, extra: dict[str, Any],
                                reason: str) -> None:
    token = jwt.encode(claims(**extra), SECRET, algorithm="HS256", headers={"kid": "h1"})
    assert refusal(verifier, token) == reason


def test_leeway_forgives_small_skew(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(exp=NOW - 3), SECRET, algorithm="HS256", headers={"kid": "h1"})
    assert verifier.verify(token, NOW).subject == "alice"


def test_audience_list_containing_ours_is_accepted(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(aud=["x", "chirp"]), SECRET, algorithm="HS256",
                       headers={"kid": "h1"})
    assert verifier.verify(token, NOW).subject == "alice"


def test_missing_exp_is_refused(verifier: TokenVerifier) -> None:
    payload = claims()
    del payload["exp"]
    token = jwt.encode(payload, SECRET, algorithm="HS256", headers={"kid": "h1"})
    assert refusal(verifier, token) == "claims"


@pytest.mark.parametrize("kid", ["../../etc/passwd", "x' OR '1'='1", "", "k" * 200, "nope"])
def test_kid_tricks_are_refused(verifier: TokenVerifier, kid: str) -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": kid})
    assert refusal(verifier, token) == "kid"


@pytest.mark.parametrize("header", [{"jku": "http://evil/jwks"}, {"x5u": "http://evil"},
                                    {"jwk": {"kty": "oct", "k": "AAAA"}}])
def test_keys_named_by_the_token_are_never_trusted(verifier: TokenVerifier,
                                                   header: dict[str, Any]) -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "h1", **header})
    assert refusal(verifier, token) == "header"


def test_oversized_token_is_refused_before_parsing(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(pad="x" * 10_000), SECRET, algorithm="HS256",
                       headers={"kid": "h1"})
    assert refusal(verifier, token) == "oversized"


def test_tampered_payload_fails_signature(verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "h1"})
    header, _, signature = token.split(".")
    forged = b64(json.dumps(claims(sub="mallory")).encode())
    assert refusal(verifier, f"{header}.{forged}.{signature}") == "signature"


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "!!!.e30.x", "e30.e30.e30"])
def test_garbage_is_malformed_not_a_crash(verifier: TokenVerifier, token: str) -> None:
    assert refusal(verifier, token) in {"malformed", "alg"}


def test_short_hmac_keys_are_rejected_at_configuration() -> None:
    with pytest.raises(ValueError, match="too short"):
        hmac_key("k", b"secret")


def test_jwks_keys_are_pinned(rsa_private: rsa.RSAPrivateKey) -> None:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_private.public_key()))
    keys = keys_from_jwks({"keys": [{**jwk, "kid": "j1", "alg": "RS256"},
                                    {"kty": "oct", "kid": "o1", "alg": "HS256",
                                     "k": b64(SECRET)}]})
    verifier = TokenVerifier(keys)
    good = jwt.encode(claims(), rsa_private, algorithm="RS256", headers={"kid": "j1"})
    assert verifier.verify(good, NOW).kid == "j1"
    swapped = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "j1"})
    assert refusal(verifier, swapped) == "alg"


@pytest.mark.parametrize("document", [{}, {"keys": []}, {"keys": [1]}, {"keys": [{"kty": "RSA"}]},
                                      {"keys": [{"kid": "a", "kty": "weird"}]}])
def test_bad_jwks_names_the_problem(document: dict[str, Any]) -> None:
    with pytest.raises(JWKSError, match="JWKS"):
        keys_from_jwks(document)


def test_verifier_configuration_errors() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        TokenVerifier([])
    with pytest.raises(ValueError, match="duplicate"):
        TokenVerifier([hmac_key("a", SECRET), hmac_key("a", SECRET)])
    with pytest.raises(ValueError, match="not one of"):
        VerificationKey("a", "none", SECRET)
