"""JWT verification that refuses the known attacks (RFC 8725).

Strategy: every key is pinned to exactly one algorithm when it is loaded, so the token's
``alg`` header is only ever compared with the key's, never used to choose how to verify.
That closes ``alg: none`` and HMAC-with-the-RSA-public-key confusion by construction.
The signature is checked by PyJWT's JWS layer with the pinned algorithm; claims (exp, nbf,
iat, iss, aud) are checked here against ``now`` (wall-clock seconds, passed in) with a
leeway, so the verifier reads no clock and tests control time.

Rejected before any cryptography: tokens longer than ``token_bytes_max``, headers with
``jku``/``x5u``/``jwk``/``crit`` (keys named by the token are never fetched or trusted), a
``kid`` that is not a short plain identifier, an ``alg`` the key is not pinned to.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.api_jws import PyJWS

# Limits, with their reasons.
TOKEN_BYTES_MAX = 8192  # a bearer token larger than this is an attack or a bug; nginx's
#                         default header buffer is 8 KB for the same reason
HMAC_KEY_BYTES_MIN = 32  # RFC 7518 3.2: HS256 keys at least as long as the hash output
KID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,128}")  # no paths, quotes or SQL in a key id

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset({
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
})
ALGORITHMS = HMAC_ALGORITHMS | ASYMMETRIC_ALGORITHMS
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit"})

_jws = PyJWS()


class JWKSError(ValueError):
    """A JWKS document or one of its keys is unusable; the message names the key."""


class TokenError(Exception):
    """A token was refused; ``reason`` is a short machine-readable word for logs/metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A key pinned to one algorithm. ``key`` is bytes (HMAC) or a cryptography key."""

    kid: str
    algorithm: str
    key: Any

    def __post_init__(self) -> None:
        if not KID_PATTERN.fullmatch(self.kid):
            raise ValueError(f"key id {self.kid!r}: use 1-128 characters of A-Z a-z 0-9 . _ -")
        if self.algorithm not in ALGORITHMS:
            known = ", ".join(sorted(ALGORITHMS))
            raise ValueError(
                f"key {self.kid!r}: algorithm {self.algorithm!r} is not one of {known}")
        if self.algorithm in HMAC_ALGORITHMS:
            if not isinstance(self.key, bytes):
                raise ValueError(f"key {self.kid!r}: an HMAC key must be bytes")
            if len(self.key) < HMAC_KEY_BYTES_MIN:
                raise ValueError(
                    f"key {self.kid!r}: HMAC key of {len(self.key)} bytes is too short; "
                    f"use at least {HMAC_KEY_BYTES_MIN} random bytes")
        elif isinstance(self.key, bytes | str):
            raise ValueError(f"key {self.kid!r}: {self.algorithm} needs a public key object, "
                             "not bytes (load PEM or JWK first)")


def hmac_key(kid: str, secret: bytes, algorithm: str = "HS256") -> VerificationKey:
    return VerificationKey(kid, algorithm, secret)


def public_key_from_pem(kid: str, pem: bytes, algorithm: str) -> VerificationKey:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    return VerificationKey(kid, algorithm, load_pem_public_key(pem))


def keys_from_jwks(document: Mapping[str, Any] | str,
                   default_algorithms: Mapping[str, str] | None = None) -> list[VerificationKey]:
    """Keys of a JWKS document. Each JWK needs a ``kid`` and an ``alg`` (or a default by kty).

    Private parts are never required; symmetric (``oct``) keys are accepted only with
    their algorithm pinned and at least 32 bytes long.
    """
    doc = json.loads(document) if isinstance(document, str) else document
    entries = doc.get("keys") if isinstance(doc, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise JWKSError("JWKS: expected an object with a non-empty \"keys\" list")
    defaults = {"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}
    defaults.update(default_algorithms or {})
    keys = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise JWKSError(f"JWKS: keys[{index}] is not an object")
        kid = entry.get("kid")
        if not isinstance(kid, str):
            raise JWKSError(f"JWKS: keys[{index}] has no string \"kid\"")
        kty = entry.get("kty")
        alg = entry.get("alg") or defaults.get(str(kty))
        if not isinstance(alg, str):
            raise JWKSError(f"JWKS: key {kid!r} has no \"alg\" and no default for kty {kty!r}")
        if kty == "oct":
            try:
                secret = base64.urlsafe_b64decode(str(entry["k"]) + "==")
            except (KeyError, binascii.Error) as exc:
                raise JWKSError(f"JWKS: key {kid!r}: missing or bad \"k\"") from exc
            keys.append(VerificationKey(kid, alg, secret))
            continue
        try:
            material = jwt.PyJWK(dict(entry), algorithm=alg).key
        except jwt.PyJWTError as exc:
            raise JWKSError(f"JWKS: key {kid!r}: {exc}") from exc
        keys.append(VerificationKey(kid, alg, material))
    return keys


@dataclass(frozen=True, slots=True)
class Claims:
    """The verified payload and the key that verified it."""

    subject: str | None
    payload: Mapping[str, Any]
    kid: str
    algorithm: str


@dataclass(slots=True)
class TokenVerifier:
    """Verifies compact JWS tokens against a pinned key set.

    ``issuer``/``audience``: when set, the claim must match (aud may be a list containing
    one of ours). ``require``: claims that must be present (``exp`` by default: a token
    that never expires cannot be revoked by waiting). ``leeway_s`` forgives clock skew.
    """

    keys: Iterable[VerificationKey]
    issuer: str | None = None
    audience: str | Iterable[str] | None = None
    leeway_s: float = 30.0
    require: tuple[str, ...] = ("exp",)
    token_bytes_max: int = TOKEN_BYTES_MAX
    _by_kid: dict[str, VerificationKey] = field(init=False, repr=False)
    _audiences: frozenset[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_kid = {}
        for key in self.keys:
            if key.kid in self._by_kid:
                raise ValueError(f"duplicate key id {key.kid!r}")
            self._by_kid[key.kid] = key
        if not self._by_kid:
            raise ValueError("a token verifier needs at least one key")
        if not (math.isfinite(self.leeway_s) and self.leeway_s >= 0):
            raise ValueError(f"leeway_s must be a finite number >= 0, got {self.leeway_s}")
        aud = self.audience
        self._audiences = frozenset([aud] if isinstance(aud, str) else (aud or ()))

    def verify(self, token: str | bytes, now: float) -> Claims:
        """Claims of a valid token, or :class:`TokenError` saying why it was refused."""
        raw = token.encode("ascii", "replace") if isinstance(token, str) else token
        if len(raw) > self.token_bytes_max:
            raise TokenError("oversized", f"token of {len(raw)} bytes exceeds "
                                          f"{self.token_bytes_max}")
        header = _header(raw)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none":
            raise TokenError("alg", "unsigned tokens (alg none) are refused")
        forbidden = FORBIDDEN_HEADERS.intersection(header)
        if forbidden:
            raise TokenError("header", f"header {min(forbidden)!r} is not accepted")
        key = self._key_for(header.get("kid"))
        if alg != key.algorithm:
            raise TokenError("alg", f"key {key.kid!r} is pinned to {key.algorithm}, "
                                    f"token says {alg}")
        try:
            decoded = _jws.decode_complete(raw, key.key, algorithms=[key.algorithm])
        except jwt.InvalidSignatureError as exc:
            raise TokenError("signature", "signature does not verify") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("malformed", f"token is malformed: {exc}") from exc
        try:
            payload = json.loads(decoded["payload"])
        except ValueError as exc:
            raise TokenError("malformed", "payload is not JSON") from exc
        if not isinstance(payload, dict):
            raise TokenError("malformed", "payload is not a JSON object")
        self._check_claims(payload, now)
        sub = payload.get("sub")
        return Claims(sub if isinstance(sub, str) else None, payload, key.kid, key.algorithm)

    def _key_for(self, kid: object) -> VerificationKey:
        if kid is None:
            if len(self._by_kid) == 1:
                return next(iter(self._by_kid.values()))
            raise TokenError("kid", "token names no key (kid) and several keys are configured")
        if not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
            raise TokenError("kid", "key id is not a plain identifier")
        key = self._by_kid.get(kid)
        if key is None:
            raise TokenError("kid", f"unknown key id {kid!r}")
        return key

    def _check_claims(self, payload: Mapping[str, Any], now: float) -> None:
        for name in self.require:
            if name not in payload:
                raise TokenError("claims", f"required claim {name!r} is missing")
        leeway = self.leeway_s
        exp = _number(payload, "exp")
        if exp is not None and now >= exp + leeway:
            raise TokenError("expired", "token has expired")
        nbf = _number(payload, "nbf")
        if nbf is not None and now < nbf - leeway:
            raise TokenError("not_yet_valid", "token is not valid yet (nbf)")
        iat = _number(payload, "iat")
        if iat is not None and now < iat - leeway:
            raise TokenError("not_yet_valid", "token was issued in the future (iat)")
        if self.issuer is not None and payload.get("iss") != self.issuer:
            raise TokenError("issuer", "wrong issuer (iss)")
        if self._audiences:
            aud = payload.get("aud")
            given = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if not self._audiences.intersection(a for a in given if isinstance(a, str)):
                raise TokenError("audience", "wrong audience (aud)")


def _header(raw: bytes) -> dict[str, Any]:
    first, dot, rest = raw.partition(b".")
    if not dot or rest.count(b".") != 1:
        raise TokenError("malformed", "a token has three dot-separated parts")
    try:
        header = json.loads(base64.urlsafe_b64decode(first + b"=" * (-len(first) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise TokenError("malformed", "token header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise TokenError("malformed", "token header is not a JSON object")
    return header


def _number(payload: Mapping[str, Any], name: str) -> float | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenError("claims", f"claim {name!r} must be a number of seconds")
    return float(value)
