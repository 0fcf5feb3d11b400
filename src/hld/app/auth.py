"""Passwords and tokens for chirp.

Passwords: scrypt with a 16-byte per-user salt (parameters in ``limits``), compared in
constant time; hashing runs off the event loop. Tokens: HS256 JWTs with kid "chirp",
claims sub (username), uid, roles, iss/aud "chirp", iat, exp and jti (the session id
recorded in the store). The gateway verifies them and passes the identity upstream in
``x-auth-subject``/``x-auth-roles``; the app verifies a Bearer token itself too (with
``hld.core.auth.tokens.TokenVerifier`` pinned to HS256), because a signature cannot be
taken back: the token's session (its jti) must still exist in the store, so logging out
(deleting the session) revokes a token before it expires (see ``hld.app.web``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import jwt

from hld.app.limits import SCRYPT_N, SCRYPT_P, SCRYPT_R
from hld.core.auth.tokens import TokenError, TokenVerifier, hmac_key

ISSUER = AUDIENCE = KID = "chirp"
SALT_BYTES = 16
SCRYPT_MAXMEM_BYTES = 64 * 1024 * 1024  # above N*r*128 = 16 MB with room to spare


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def hash_password(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                          maxmem=SCRYPT_MAXMEM_BYTES, dklen=32)


def check_password(password: str, salt: bytes, expected: bytes) -> bool:
    return hmac.compare_digest(hash_password(password, salt), expected)


@dataclass(frozen=True, slots=True)
class Identity:
    username: str
    roles: tuple[str, ...]
    session: str  # the jti: chirp:session:{session} exists while the session is alive


class Tokens:
    """Issues and (for direct use) verifies chirp's JWTs."""

    def __init__(self, secret: bytes, ttl_s: float) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self._verifier = TokenVerifier([hmac_key(KID, secret)], issuer=ISSUER,
                                       audience=AUDIENCE)

    def issue(self, username: str, uid: int, roles: tuple[str, ...] = ("user",)
              ) -> tuple[str, str]:
        """A signed token and its session id (jti)."""
        now = int(time.time())
        jti = secrets.token_urlsafe(12)
        claims = {"sub": username, "uid": uid, "roles": list(roles), "iss": ISSUER,
                  "aud": AUDIENCE, "iat": now, "exp": now + int(self.ttl_s), "jti": jti}
        token = jwt.encode(claims, self._secret, algorithm="HS256", headers={"kid": KID})
        return token, jti

    def verify(self, token: str) -> Identity:
        """The identity in a valid token; TokenError saying why not otherwise."""
        claims = self._verifier.verify(token, time.time())
        if not claims.subject:
            raise TokenError("claims", "token has no subject (sub)")
        session = claims.payload.get("jti")
        if not isinstance(session, str) or not session:
            raise TokenError("claims", "token has no session id (jti)")
        roles = claims.payload.get("roles", [])
        return Identity(claims.subject, tuple(r for r in roles if isinstance(r, str))
                        if isinstance(roles, list) else (), session)
