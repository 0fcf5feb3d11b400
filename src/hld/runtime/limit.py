"""Sync and asyncio shells over hld.core.limit: a clock, a lock, waiting and a decorator.

The cores decide; this module supplies what they leave out on purpose:

- ``LocalLimiter(prototype)``: a keyed limiter whose state lives in this process
  (``hld.core.limit.KeyedLimiter``, bounded memory), read against an injectable clock and
  guarded by one lock so threads may share it (asyncio tasks on one loop need no lock, but
  it costs them one uncontended acquire). ``allow(key, now=None, cost=1)`` has the call
  shape of ``RedisLimiter.allow``, so code can swap a local limiter for a distributed one.
- ``check`` raises ``RateLimited`` (carrying the ``Decision``, hence ``retry_after_s`` for a
  ``Retry-After`` header) instead of returning a refusal.
- ``wait`` / ``wait_async``: client-side throttling. Take the permit when it comes, sleeping
  ``retry_after_s`` between tries, but never longer than ``max_wait_s`` in total nor past
  the current deadline (``hld.runtime.resilience.deadline``): a wait that cannot succeed in
  time fails at once rather than sleeping first.
- ``shape`` / ``shape_async``: the leaky bucket *as a queue*. With a ``LeakyQueue``
  prototype a request that fits is admitted and then delayed until its turn, so output
  leaves at the configured rate, evenly spaced; one that overflows the queue is refused.
- ``rate_limited(limiter, key=...)``: a decorator for sync and async functions that calls
  ``check`` first. With an ``AsyncRedisLimiter`` on a coroutine function it awaits the
  decision, so one decorator serves local and distributed limits.

Time comes from ``clock`` (default ``time.monotonic``) and waiting from ``sleep`` /
``async_sleep``, so tests run on a manual clock and take no time.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from hld.core.limit import Decision, KeyedLimiter, LeakyQueue, Limiter
from hld.core.limit.base import KEYS_MAX_DEFAULT
from hld.runtime.resilience import current_deadline

P = ParamSpec("P")
R = TypeVar("R")

Clock = Callable[[], float]
Sleep = Callable[[float], None]
AsyncSleep = Callable[[float], Awaitable[None]]

#: Most tries one ``wait`` makes. Each denied try sleeps until the limiter said a retry
#: would pass, so more than one extra try only happens when other callers of the same key
#: took the permit first; past this many, the key is contended beyond any fair wait.
WAIT_TRIES_MAX = 64


class RateLimited(Exception):  # noqa: N818 - the name is the domain's sentence
    """A request over its rate limit; ``decision.retry_after_s`` says when to come back."""

    def __init__(self, message: str, decision: Decision) -> None:
        super().__init__(message)
        self.decision = decision

    @property
    def retry_after_s(self) -> float:
        return self.decision.retry_after_s


class KeyedAllow(Protocol):
    """What ``rate_limited`` needs: ``LocalLimiter``, ``RedisLimiter`` or its async twin."""

    def allow(self, key: str, now: float | None = None, cost: int = 1) -> Any: ...


def _refusal(key: object, decision: Decision) -> RateLimited:
    if math.isinf(decision.retry_after_s):
        return RateLimited(f"rate limit for {key!r}: a cost above the limit of "
                           f"{decision.limit} can never pass", decision)
    return RateLimited(f"rate limit for {key!r} reached; retry after "
                       f"{decision.retry_after_s:.3f}s", decision)


def _check_wait(max_wait_s: float | None) -> None:
    if max_wait_s is not None and (isinstance(max_wait_s, bool) or not max_wait_s >= 0
                                   or math.isinf(max_wait_s)):
        raise ValueError(f"max_wait_s must be a finite number >= 0 or None, "
                                    f"got {max_wait_s!r}")


class LocalLimiter:
    """A keyed, in-process rate limiter on a clock, safe to share between threads."""

    __slots__ = ("_async_sleep", "_clock", "_lock", "_sleep", "keyed")

    def __init__(self, prototype: Limiter, *, max_keys: int = KEYS_MAX_DEFAULT,
                 clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
                 async_sleep: AsyncSleep = asyncio.sleep) -> None:
        self.keyed: KeyedLimiter[str] = KeyedLimiter(prototype, max_keys=max_keys)
        self._clock = clock
        self._sleep = sleep
        self._async_sleep = async_sleep
        self._lock = threading.Lock()

    @property
    def prototype(self) -> Limiter:
        return self.keyed.prototype

    def allow(self, key: str, now: float | None = None, cost: int = 1) -> Decision:
        """Decide for ``key`` at ``now`` (default: the clock) and record it if allowed."""
        with self._lock:
            return self.keyed.allow(key, self._clock() if now is None else now, cost)

    def check(self, key: str, cost: int = 1) -> Decision:
        """``allow``, raising ``RateLimited`` when refused."""
        decision = self.allow(key, cost=cost)
        if not decision.allowed:
            raise _refusal(key, decision)
        return decision

    # -- waiting for a permit ------------------------------------------------------------

    def _next_wait_s(self, key: str, decision: Decision, waited_s: float,
                     max_wait_s: float | None) -> float:
        """How long to sleep before the next try, or raise when it cannot pay off."""
        wait_s = decision.retry_after_s
        budget_s = math.inf if max_wait_s is None else max_wait_s - waited_s
        dl = current_deadline()
        if dl is not None:
            budget_s = min(budget_s, dl.remaining_s(self._clock()))
        if wait_s > budget_s or math.isinf(wait_s):  # inf: a cost that can never pass
            raise _refusal(key, decision)
        return wait_s

    def wait(self, key: str, cost: int = 1, *, max_wait_s: float | None = None) -> Decision:
        """Block until ``cost`` units pass for ``key``; ``RateLimited`` if they cannot
        within ``max_wait_s`` (None: no limit of our own) or the current deadline."""
        _check_wait(max_wait_s)
        waited_s = 0.0
        for _ in range(WAIT_TRIES_MAX):
            decision = self.allow(key, cost=cost)
            if decision.allowed:
                return decision
            wait_s = self._next_wait_s(key, decision, waited_s, max_wait_s)
            self._sleep(wait_s)
            waited_s += wait_s
        raise _refusal(key, decision)

    async def wait_async(self, key: str, cost: int = 1, *,
                         max_wait_s: float | None = None) -> Decision:
        """``wait`` for asyncio: the task sleeps, the loop keeps serving others."""
        _check_wait(max_wait_s)
        waited_s = 0.0
        for _ in range(WAIT_TRIES_MAX):
            decision = self.allow(key, cost=cost)
            if decision.allowed:
                return decision
            wait_s = self._next_wait_s(key, decision, waited_s, max_wait_s)
            await self._async_sleep(wait_s)
            waited_s += wait_s
        raise _refusal(key, decision)

    # -- the leaky bucket as a queue -----------------------------------------------------

    def _enqueue(self, key: str, cost: int) -> float:
        """Admit into ``key``'s queue and return the delay until this request's turn."""
        prototype = self.keyed.prototype
        if not isinstance(prototype, LeakyQueue):
            raise TypeError(
                f"shape() needs a LeakyQueue prototype (a queue to wait in), not "
                f"{prototype.name!r}; use wait() for other algorithms")
        decision = self.allow(key, cost=cost)
        if not decision.allowed:
            raise _refusal(key, decision)
        # reset_after_s is when the queue drains with this request in it; the request
        # leaves once everything ahead of it has.
        return max(0.0, decision.reset_after_s - cost / prototype.rate_per_s)

    def shape(self, key: str, cost: int = 1) -> float:
        """Queue ``cost`` units for ``key`` and sleep until their turn; returns the delay."""
        delay_s = self._enqueue(key, cost)
        if delay_s > 0:
            self._sleep(delay_s)
        return delay_s

    async def shape_async(self, key: str, cost: int = 1) -> float:
        """``shape`` for asyncio."""
        delay_s = self._enqueue(key, cost)
        if delay_s > 0:
            await self._async_sleep(delay_s)
        return delay_s

    def __repr__(self) -> str:
        return f"LocalLimiter({self.keyed!r})"


def rate_limited(limiter: KeyedAllow, key: Callable[..., str] | str, *,
                 cost: int = 1) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Refuse calls over the limit with ``RateLimited``. ``key`` is a fixed key or a
    function of the call's arguments (e.g. ``lambda request: request.client``)."""
    key_of: Callable[..., str] = key if callable(key) else (lambda *_a, **_k: key)

    async_limiter = inspect.iscoroutinefunction(limiter.allow)

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        if async_limiter and not inspect.iscoroutinefunction(fn):
            raise TypeError("an asyncio limiter cannot guard a plain function; decorate a "
                            "coroutine function or use a synchronous limiter")
        if inspect.iscoroutinefunction(fn):
            afn = fn

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                k = key_of(*args, **kwargs)
                decision = limiter.allow(k, cost=cost)
                if async_limiter:
                    decision = await decision  # AsyncRedisLimiter
                if not decision.allowed:
                    raise _refusal(k, decision)
                return await afn(*args, **kwargs)

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            k = key_of(*args, **kwargs)
            decision = limiter.allow(k, cost=cost)
            if not decision.allowed:
                raise _refusal(k, decision)
            return fn(*args, **kwargs)

        return wrapper

    return decorate
