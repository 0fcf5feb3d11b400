"""Keyed rate limiting with bounded memory: one small limiter per key, at most ``max_keys``.

Each key gets its own limiter cloned from a prototype (``prototype.fresh()``), held in an
insertion-ordered dict kept in least-recently-used order. Memory stays bounded two ways:

* Idle keys expire losslessly: a limiter knows the time from which its state equals a
  fresh one (``reset_at``); dropping the key then changes no future decision. Expiry runs
  opportunistically from the LRU end, at most ``SWEEP_KEYS_MAX`` keys per sweep and one
  sweep per quarter of the limiter's horizon (at least ``SWEEP_INTERVAL_S_MIN`` apart), so
  the hot path pays one float comparison.
  ``expire(now)`` sweeps everything on demand.
* Beyond ``max_keys`` the least recently used key is evicted. That one is lossy (the key
  starts fresh if it returns), counted in ``statistics().evicted``, and the price of a
  hard bound under a flood of distinct keys.

A plain ``OrderedDict`` is used rather than ``hld.core.cache.LRUCache``: expiry needs to
peek at the LRU end and test each limiter's own reset time, which the cache interface
deliberately does not expose, and the extra method layer would double the key lookup cost.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from hld.core.limit.base import (
    INF,
    KEYS_MAX_DEFAULT,
    SWEEP_INTERVAL_S_MIN,
    SWEEP_KEYS_MAX,
    Decision,
    Limiter,
    check_count,
)

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class KeyedStatistics:
    """A snapshot of a keyed limiter's counters."""

    keys: int
    keys_max: int
    created: int
    expired: int
    evicted: int


class KeyedLimiter(Generic[K]):
    """A limiter per key, cloned from ``prototype``, with a bounded number of keys."""

    __slots__ = ("_created", "_evicted", "_expired", "_limiters", "_prototype",
                 "_sweep_at_s", "_sweep_every_s", "max_keys")

    def __init__(self, prototype: Limiter, *, max_keys: int = KEYS_MAX_DEFAULT) -> None:
        if not isinstance(prototype, Limiter):
            raise TypeError(f"prototype must be a rate limiter, not {type(prototype).__name__}")
        self.max_keys = check_count("max_keys", max_keys, maximum=2**40)
        self._prototype = prototype
        self._limiters: OrderedDict[K, Limiter] = OrderedDict()
        self._sweep_every_s = max(prototype.horizon_s / 4.0, SWEEP_INTERVAL_S_MIN)
        self._sweep_at_s = -INF
        self._created = self._expired = self._evicted = 0

    @property
    def prototype(self) -> Limiter:
        return self._prototype

    def allow(self, key: K, now: float, cost: int = 1) -> Decision:
        if now >= self._sweep_at_s:
            self._sweep(now, SWEEP_KEYS_MAX)
        limiters = self._limiters
        limiter = limiters.get(key)
        if limiter is None:
            if len(limiters) >= self.max_keys:
                self._drop_oldest(now)
            limiter = limiters[key] = self._prototype.fresh()
            self._created += 1
        else:
            limiters.move_to_end(key)
        return limiter.allow(now, cost)

    def peek(self, key: K) -> Limiter | None:
        """The limiter held for ``key``, without touching recency."""
        return self._limiters.get(key)

    def expire(self, now: float) -> int:
        """Drop every key whose limiter is back to its fresh state; return how many."""
        limiters = self._limiters
        idle = [key for key, limiter in limiters.items() if limiter.reset_at() <= now]
        for key in idle:
            del limiters[key]
        self._expired += len(idle)
        return len(idle)

    def _sweep(self, now: float, budget: int) -> None:
        limiters = self._limiters
        while budget and limiters:
            key = next(iter(limiters))
            if limiters[key].reset_at() > now:
                break
            del limiters[key]
            self._expired += 1
            budget -= 1
        self._sweep_at_s = now + self._sweep_every_s

    def _drop_oldest(self, now: float) -> None:
        _, limiter = self._limiters.popitem(last=False)
        if limiter.reset_at() <= now:
            self._expired += 1
        else:
            self._evicted += 1

    def statistics(self) -> KeyedStatistics:
        return KeyedStatistics(len(self._limiters), self.max_keys, self._created,
                               self._expired, self._evicted)

    def __len__(self) -> int:
        return len(self._limiters)

    def __contains__(self, key: object) -> bool:
        return key in self._limiters

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._limiters))

    def __repr__(self) -> str:
        return f"KeyedLimiter({self._prototype!r}, max_keys={self.max_keys}, keys={len(self)})"
