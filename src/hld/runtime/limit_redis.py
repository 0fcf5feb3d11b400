"""Distributed rate limiting: the core's algorithms run atomically inside Redis.

Each algorithm of ``hld.core.limit`` has a Lua twin in ``hld/runtime/lua/limit_*.lua``
that performs the same IEEE arithmetic on the same numbers (the core's own floats are
passed as ``repr`` strings and state is stored with 17 significant digits, which round-trip
exactly), so for the same sequence of ``(now, cost)`` a Redis-backed limiter returns the
same ``Decision`` as the local one. A script runs atomically, so concurrent callers on any
number of processes can never over-admit. Scripts are registered with redis-py
(``register_script``: EVALSHA, falling back to EVAL after a restart or SCRIPT FLUSH).

Time: by default the script reads the server's ``TIME``, so every caller shares one clock
and skew between application hosts cannot bend the limit. Passing ``now`` explicitly
(seconds, any epoch, but the same one for all callers of a key) makes runs deterministic
for tests and simulations. Both are supported; mixing them on one key is a mistake.

Memory: every touched key gets ``PEXPIRE`` at the moment its state becomes equivalent to
a fresh one (so expiry never changes a decision), and never less than ``ttl_min_s``, which
absorbs clock skew between callers that pass ``now``.

Build a limiter from a configured core limiter, which is also where the parameters were
validated: ``RedisLimiter(client, GCRA(rate_per_s=10, burst=20))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import redis
import redis.asyncio

from hld.core.limit import Decision, Limiter
from hld.core.limit.base import COST_MAX, bad_cost, check_period

#: Default prefix of every key a limiter writes.
KEY_PREFIX_DEFAULT = "hld:limit:"
#: Least lifetime of a touched key, in seconds (see module docstring).
TTL_MIN_S_DEFAULT = 1.0

ALGORITHMS = ("token_bucket", "leaky_meter", "leaky_queue", "fixed_window", "sliding_log",
              "sliding_counter", "gcra")


@cache
def script_source(algorithm: str) -> str:
    """The Lua source run for ``algorithm``: the shared prelude, then its own script."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"no Redis script for {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    lua = resources.files("hld.runtime") / "lua"
    prelude = (lua / "limit_prelude.lua").read_text(encoding="utf-8")
    body = (lua / f"limit_{algorithm}.lua").read_text(encoding="utf-8")
    return prelude + "\n" + body


def script_parameters(prototype: Limiter) -> list[str]:
    """The algorithm's parameters as exact decimal strings, in the script's ARGV order."""
    proto: Any = prototype
    name = prototype.name
    if name in {"token_bucket", "leaky_meter"}:
        numbers = [proto.rate_per_s, proto.burst]
    elif name == "leaky_queue":
        numbers = [proto.rate_per_s, proto.capacity]
    elif name == "gcra":
        numbers = [proto.rate_per_s, proto.burst, proto.emission_s, proto.tau_s]
    elif name in {"fixed_window", "sliding_log", "sliding_counter"}:
        numbers = [proto.limit, proto.window_s]
    else:
        raise ValueError(f"no Redis script for {name!r}; known: {', '.join(ALGORITHMS)}")
    return [repr(n) for n in numbers]


def parse_reply(reply: Sequence[Any]) -> Decision:
    """A script's reply as a ``Decision``."""
    allowed, limit, remaining, retry_after, reset_after = reply
    return Decision(bool(allowed), int(limit), int(remaining), float(retry_after),
                    float(reset_after))


class _RedisLimiterBase:
    __slots__ = ("_params", "_prefix", "_ttl_min", "prototype")

    def __init__(self, prototype: Limiter, prefix: str, ttl_min_s: float) -> None:
        if not isinstance(prototype, Limiter):
            raise TypeError(f"prototype must be a rate limiter, not {type(prototype).__name__}")
        self.prototype = prototype
        self._params = script_parameters(prototype)
        self._prefix = f"{prefix}{prototype.name}:"
        self._ttl_min = repr(check_period("ttl_min_s", ttl_min_s))

    def keys_for(self, key: str) -> list[str]:
        """The Redis keys holding ``key``'s state (braces keep them in one cluster slot)."""
        base = f"{self._prefix}{{{key}}}"
        if self.prototype.name == "sliding_log":
            return [base, base + ":seq"]
        return [base]

    def _args(self, now: float | None, cost: int) -> list[str]:
        if not 0 <= cost <= COST_MAX:
            raise bad_cost(cost)
        return ["" if now is None else repr(float(now)), str(int(cost)), self._ttl_min,
                *self._params]


class RedisLimiter(_RedisLimiterBase):
    """A keyed limiter whose state lives in Redis (synchronous redis-py client)."""

    __slots__ = ("_script",)

    def __init__(self, client: redis.Redis, prototype: Limiter, *,
                 prefix: str = KEY_PREFIX_DEFAULT,
                 ttl_min_s: float = TTL_MIN_S_DEFAULT) -> None:
        super().__init__(prototype, prefix, ttl_min_s)
        self._script = client.register_script(script_source(prototype.name))

    def allow(self, key: str, now: float | None = None, cost: int = 1) -> Decision:
        """Decide for ``key``; ``now=None`` uses the Redis server's clock."""
        reply = self._script(keys=self.keys_for(key), args=self._args(now, cost))
        return parse_reply(reply)


class AsyncRedisLimiter(_RedisLimiterBase):
    """A keyed limiter whose state lives in Redis (``redis.asyncio`` client)."""

    __slots__ = ("_script",)

    def __init__(self, client: redis.asyncio.Redis, prototype: Limiter, *,
                 prefix: str = KEY_PREFIX_DEFAULT,
                 ttl_min_s: float = TTL_MIN_S_DEFAULT) -> None:
        super().__init__(prototype, prefix, ttl_min_s)
        self._script = client.register_script(script_source(prototype.name))

    async def allow(self, key: str, now: float | None = None, cost: int = 1) -> Decision:
        """Decide for ``key``; ``now=None`` uses the Redis server's clock."""
        reply = await self._script(keys=self.keys_for(key), args=self._args(now, cost))
        return parse_reply(reply)
