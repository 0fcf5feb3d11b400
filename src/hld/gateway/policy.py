"""Per-route admission: authentication, rate limiting and authorisation, in that order.

``RoutePolicy.admit`` answers ``None`` (go on), a ``Refusal`` (401/403/429 with the
right headers) or, when a decision needs the store (an opaque token not in the local
cache, a shared rate limit), a coroutine the exchange awaits. Local decisions, the
common case, never leave the event loop's current callback.

The verified identity travels upstream in ``x-auth-subject``, ``x-auth-roles`` and
``x-auth-method``; the proxy strips any incoming copies, so clients cannot forge them.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hld.core.auth.rules import AccessRequest, Policy, Rule, Subject
from hld.core.auth.tokens import (
    TokenError,
    TokenVerifier,
    VerificationKey,
    hmac_key,
    keys_from_jwks,
)
from hld.core.cache import make
from hld.core.cache.ttl import TTLCache
from hld.core.limit import Decision
from hld.core.limit.gcra import GCRA
from hld.core.limit.keyed import KeyedLimiter
from hld.gateway import limits
from hld.gateway.config import ConfigError, GatewayConfig, JwtAuth, Route
from hld.gateway.http import Refusal

if TYPE_CHECKING:
    from hld.gateway.proxy import Exchange

IDENTITY_HEADERS = (b"x-auth-subject", b"x-auth-roles", b"x-auth-method")
OPAQUE_CACHE_ENTRIES_MAX = 100_000  # revocation lag is bounded by cache_s, memory by this
RATE_LIMIT_KEYS_MAX = 100_000       # distinct clients tracked per route
VERIFIED_TOKENS_MAX = 10_000        # JWTs remembered as verified, per worker
VERIFIED_TOKEN_BYTES_MAX = 2048     # longer tokens are verified every time (memory bound)
VERIFIED_TOKEN_TTL_S = 60.0         # a remembered verification is redone after this

Outcome = Refusal | None | Awaitable[Refusal | None]


def load_verifier(config: JwtAuth, source: str) -> TokenVerifier:
    """Keys from hmac_secrets, a JWKS file or a JWKS URL (fetched once at start)."""
    keys: list[VerificationKey] = []
    try:
        for kid, secret in config.hmac_secrets.items():
            keys.append(hmac_key(kid, secret.encode()))
        if config.jwks_file:
            keys.extend(keys_from_jwks(Path(config.jwks_file).read_text()))
        if config.jwks_url:
            keys.extend(keys_from_jwks(_fetch(config.jwks_url)))
        return TokenVerifier(keys, issuer=config.issuer, audience=config.audience,
                             leeway_s=config.leeway_s)
    except OSError as exc:
        raise ConfigError(f"{source}: auth.jwt: cannot read keys: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{source}: auth.jwt: {exc}") from None


def _fetch(url: str) -> str:
    import urllib.request

    if not url.startswith(("https://", "http://")):
        raise ValueError(f"jwks_url {url!r} must be an http(s) URL")
    with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 - scheme checked above
        data: bytes = reply.read(1 << 20)
    return data.decode()


# Claims that describe the token rather than its holder: not subject attributes.
_REGISTERED_CLAIMS = frozenset({"sub", "roles", "iss", "aud", "exp", "nbf", "iat", "jti"})
ATTRIBUTES_MAX = 32  # scalar claims kept as subject attributes for ABAC conditions


class Identity:
    """A verified caller: subject, roles, and scalar claims for ABAC conditions."""

    __slots__ = ("attributes", "header_block", "method", "roles", "subject")

    def __init__(self, subject: str, roles: frozenset[str], method: str,
                 attributes: dict[str, Any] | None = None) -> None:
        self.subject = subject
        self.roles = roles
        self.method = method
        self.attributes = attributes or {}
        # Built once per identity (a remembered token reuses it). Control characters are
        # dropped, so a claim can never start a header of its own upstream.
        self.header_block = (
            b"x-auth-subject: " + _header_value(subject) + b"\r\n"
            b"x-auth-roles: " + _header_value(",".join(sorted(roles))) + b"\r\n"
            b"x-auth-method: " + _header_value(method) + b"\r\n")


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _header_value(text: str) -> bytes:
    return _CONTROL_CHARS.sub("", text).encode("utf-8")[:limits.IDENTITY_VALUE_BYTES_MAX]


def _attributes(claims: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in claims.items():
        if name not in _REGISTERED_CLAIMS and isinstance(value, str | int | float | bool):
            out[name] = value
            if len(out) >= ATTRIBUTES_MAX:
                break
    return out


class OpaqueTokens:
    """Opaque tokens looked up in the store (``GET prefix+token``), cached briefly.

    The stored value is JSON ``{"sub": ..., "roles": [...]}`` or a bare subject. Deleting
    the key revokes the token; every gateway notices within ``cache_s`` seconds.
    """

    def __init__(self, url: str, prefix: str, cache_s: float) -> None:
        import redis.asyncio

        self.client = redis.asyncio.Redis.from_url(url, socket_timeout=1.0)
        self.prefix = prefix
        self.cache_s = cache_s
        self.cache: TTLCache[str, Identity | None] = TTLCache(
            make("lru", OPAQUE_CACHE_ENTRIES_MAX), default_ttl_s=max(cache_s, 1e-3))

    def cached(self, token: str, now: float) -> tuple[bool, Identity | None]:
        if self.cache_s <= 0:
            return False, None
        sentinel = _MISSING
        value = self.cache.get(token, now, sentinel)
        if value is sentinel:
            return False, None
        return True, value

    async def lookup(self, token: str, now: float) -> Identity | None:
        raw = await self.client.get(self.prefix + token)
        identity = None
        if raw is not None:
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            try:
                data = json.loads(text)
            except ValueError:
                data = text
            if isinstance(data, dict) and isinstance(data.get("sub"), str):
                roles = data.get("roles") or []
                identity = Identity(data["sub"], frozenset(str(r) for r in roles), "opaque",
                                    _attributes(data))
            elif isinstance(data, str) and data:
                identity = Identity(data, frozenset(), "opaque")
        if self.cache_s > 0:
            self.cache.put(token, identity, now)
        return identity


_MISSING: Any = object()


class SharedLimiter:
    """A rate limit whose state lives in the store (CL.THROTTLE) or in Redis (Lua)."""

    def __init__(self, backend: str, url: str, route: Route) -> None:
        import redis.asyncio

        assert route.rate_limit is not None
        self.limit = route.rate_limit
        self.client = redis.asyncio.Redis.from_url(url, socket_timeout=1.0)
        self.backend = backend
        self.prefix = f"hld:gw:{route.name}:"
        if backend == "redis":
            from hld.runtime.limit_redis import AsyncRedisLimiter

            self.lua = AsyncRedisLimiter(self.client, GCRA(
                self.limit.rate / self.limit.per_s, self.limit.burst), prefix=self.prefix)
        elif not (float(self.limit.rate).is_integer() and float(self.limit.per_s).is_integer()):
            raise ConfigError(f"routes.{route.name}.rate_limit: the store's CL.THROTTLE needs "
                              "whole numbers for rate and per_s")

    async def allow(self, key: str) -> Decision:
        if self.backend == "redis":
            return await self.lua.allow(key)
        limit = self.limit
        reply = await self.client.execute_command(  # type: ignore[no-untyped-call]
            "CL.THROTTLE", self.prefix + key, max(0, limit.burst - 1), int(limit.rate),
            int(limit.per_s), 1)
        limited, total, remaining, retry_after, reset_after = (int(x) for x in reply)
        return Decision(not limited, total, remaining, float(max(retry_after, 0)),
                        float(reset_after))


class VerifiedTokens:
    """Identities of JWTs that verified, so a signature is checked once a minute per token
    rather than on every request (PyJWT's HMAC path alone costs tens of microseconds).

    The key is the whole token, signature included, so only a byte-identical token hits;
    ``exp`` and ``nbf`` are checked again (with the leeway) on every hit. Bounded in
    entries and in token size; the oldest entry leaves first.
    """

    def __init__(self, leeway_s: float) -> None:
        self.leeway_s = leeway_s
        # token -> (identity, valid from, valid until, cached until); wall-clock seconds
        self.entries: dict[str, tuple[Identity, float, float, float]] = {}

    def get(self, token: str, wall: float) -> Identity | None:
        entry = self.entries.get(token)
        if entry is None:
            return None
        identity, valid_from, valid_until, cached_until = entry
        if wall < valid_from or wall >= valid_until or wall >= cached_until:
            del self.entries[token]
            return None
        return identity

    def put(self, token: str, identity: Identity, payload: Mapping[str, Any],
            wall: float) -> None:
        if len(token) > VERIFIED_TOKEN_BYTES_MAX:
            return
        exp, nbf = payload.get("exp"), payload.get("nbf")
        valid_until = float(exp) + self.leeway_s if isinstance(exp, int | float) \
            and not isinstance(exp, bool) else math.inf
        valid_from = float(nbf) - self.leeway_s if isinstance(nbf, int | float) \
            and not isinstance(nbf, bool) else -math.inf
        entries = self.entries
        if len(entries) >= VERIFIED_TOKENS_MAX:
            del entries[next(iter(entries))]
        entries[token] = (identity, valid_from, valid_until, wall + VERIFIED_TOKEN_TTL_S)


class RoutePolicy:
    """Admission for one route."""

    def __init__(self, route: Route, config: GatewayConfig, *,
                 verifier: TokenVerifier | None, opaque: OpaqueTokens | None,
                 wall: Callable[[], float] = time.time,
                 verified: VerifiedTokens | None = None) -> None:
        self.route = route
        self.mode = route.auth
        self.verifier = verifier
        self.verified = verified
        self.opaque = opaque
        self.wall = wall
        self.rules: Policy | None = None
        if route.rules:
            self.rules = Policy(
                (Rule(r.effect, r.subjects, r.actions, r.resources,  # type: ignore[arg-type]
                      r.condition, r.name) for r in route.rules),
                role_parents=route.role_parents)
        self.local: KeyedLimiter[str] | None = None
        self.shared: SharedLimiter | None = None
        rate = route.rate_limit
        if rate is not None:
            if config.rate_limit_backend == "local":
                self.local = KeyedLimiter(GCRA(rate.rate / rate.per_s, rate.burst),
                                          max_keys=RATE_LIMIT_KEYS_MAX)
            else:
                assert config.rate_limit_url is not None
                self.shared = SharedLimiter(config.rate_limit_backend, config.rate_limit_url,
                                            route)

    @property
    def active(self) -> bool:
        return self.mode != "none" or self.rules is not None or self.local is not None \
            or self.shared is not None

    def admit(self, exchange: Exchange, now: float) -> Outcome:
        identity = None
        if self.mode != "none":
            token = _bearer(exchange)
            if token is None:
                return _unauthorized("missing bearer token (Authorization: Bearer ...)")
            if isinstance(token, Refusal):
                return token
            use_jwt = self.mode == "jwt" or (self.mode == "any" and token.count(".") == 2)
            if use_jwt:
                assert self.verifier is not None
                wall = self.wall()
                verified = self.verified
                identity = verified.get(token, wall) if verified is not None else None
                if identity is None:
                    try:
                        claims = self.verifier.verify(token, wall)
                    except TokenError as exc:
                        exchange.gateway.metrics.rejected(self.route.name,
                                                          f"token_{exc.reason}")
                        return _unauthorized(f"invalid token: {exc}")
                    roles = claims.payload.get("roles") or []
                    identity = Identity(claims.subject or "", frozenset(
                        str(r) for r in roles) if isinstance(roles, list) else frozenset(),
                        "jwt", _attributes(claims.payload))
                    if verified is not None:
                        verified.put(token, identity, claims.payload, wall)
            else:
                assert self.opaque is not None
                hit, identity = self.opaque.cached(token, now)
                if not hit:
                    return self._admit_opaque(exchange, token, now)
                if identity is None:
                    return _unauthorized("invalid or revoked token")
        return self._after_auth(exchange, identity, now)

    async def _admit_opaque(self, exchange: Exchange, token: str, now: float) -> Refusal | None:
        assert self.opaque is not None
        identity = await self.opaque.lookup(token, now)
        if identity is None:
            exchange.gateway.metrics.rejected(self.route.name, "token_opaque")
            return _unauthorized("invalid or revoked token")
        outcome = self._after_auth(exchange, identity, exchange.gateway.clock())
        if outcome is None or isinstance(outcome, Refusal):
            return outcome
        return await outcome

    def _after_auth(self, exchange: Exchange, identity: Identity | None, now: float) -> Outcome:
        if identity is not None:
            exchange.identity = identity
        if self.rules is not None:
            refusal = self._authorize(exchange, identity)
            if refusal is not None:
                return refusal
        if self.local is not None or self.shared is not None:
            key = self._limit_key(exchange, identity)
            if self.local is not None:
                return self._limited(exchange, self.local.allow(key, now))
            return self._shared_limit(exchange, key)
        return None

    async def _shared_limit(self, exchange: Exchange, key: str) -> Refusal | None:
        assert self.shared is not None
        return self._limited(exchange, await self.shared.allow(key))

    def _limited(self, exchange: Exchange, decision: Decision) -> Refusal | None:
        if decision.allowed:
            return None
        exchange.gateway.metrics.rejected(self.route.name, "rate_limit")
        exchange.gateway.note_rate_limited(self.route.name)
        retry_after = max(1, math.ceil(decision.retry_after_s))
        return Refusal(429, "rate limit exceeded; retry later", close=False, headers=(
            ("retry-after", str(retry_after)),
            ("ratelimit-limit", str(decision.limit)),
            ("ratelimit-remaining", str(max(0, decision.remaining))),
            ("ratelimit-reset", str(max(0, math.ceil(decision.reset_after_s)))),
        ))

    def _limit_key(self, exchange: Exchange, identity: Identity | None) -> str:
        assert self.route.rate_limit is not None
        kind = self.route.rate_limit.key
        if kind == "subject" and identity is not None and identity.subject:
            return "sub:" + identity.subject
        if kind == "api_key":
            api_key = exchange.head.get(b"x-api-key")
            if api_key:
                return "key:" + api_key.decode("latin-1")[:128]
        if kind == "route":
            return "route"
        return "ip:" + exchange.gateway.client_address(exchange)

    def _authorize(self, exchange: Exchange, identity: Identity | None) -> Refusal | None:
        assert self.rules is not None
        subject = (Subject(identity.subject, identity.roles, identity.attributes)
                   if identity is not None else Subject("anonymous"))
        head = exchange.head
        decision = self.rules.decide(AccessRequest(
            subject, exchange.method.decode(), exchange.path.decode("utf-8", "replace"),
            {"route": self.route.name, "host": head.host.decode("latin-1"),
             "query": head.query.decode("latin-1")},
            {"client": exchange.gateway.client_address(exchange),
             "hour": time.gmtime(self.wall()).tm_hour}))
        if decision.allowed:
            return None
        exchange.gateway.metrics.rejected(self.route.name, "forbidden")
        if identity is None:
            return _unauthorized("authentication required")
        return Refusal(403, f"forbidden: {decision.reason}", close=False)


def _bearer(exchange: Exchange) -> str | Refusal | None:
    value = exchange.head.authorization
    if value is None:
        return None
    if len(value) > limits.AUTHORIZATION_BYTES_MAX:
        return _unauthorized("token too large")
    scheme, _, token = value.partition(b" ")
    if scheme.lower() != b"bearer" or not token.strip():
        return _unauthorized("use Authorization: Bearer <token>")
    try:
        return token.strip().decode("ascii")
    except UnicodeDecodeError:
        return _unauthorized("token is not ASCII")


def _unauthorized(message: str) -> Refusal:
    return Refusal(401, message, close=False, headers=(("www-authenticate", "Bearer"),))
