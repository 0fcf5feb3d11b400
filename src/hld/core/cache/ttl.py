"""Per-entry expiry (time to live) around any cache policy.

``TTLCache(inner, default_ttl_s=...)`` adds deadlines to a policy built by ``make``. Time
is an argument: every call that can observe expiry takes ``now`` (seconds, monotonic),
so the wrapper never reads a clock and tests need no sleeping.

Strategy: a ``key -> deadline`` map answers "is this entry still alive?" in O(1), and a
min-heap of ``(deadline, sequence, key)`` finds what has expired without scanning.

* An entry is expired once ``now >= deadline``. An expired entry is never returned: not by
  ``get``, ``peek``, ``contains`` or ``keys``, whether or not it has been purged yet.
* Purging is lazy and cheap: ``get`` drops an expired entry it meets, ``put`` first drops
  everything that has expired (so expired entries never push live ones out), and
  ``expire(now)`` does the same on demand. ``next_deadline()`` tells a runtime when the
  next purge would have work to do, so it can sleep until then instead of polling.
* Expirations are counted apart from evictions (``statistics().expirations``); a ``get``
  that finds its entry expired is a miss. Removing an expired entry calls ``on_expire``,
  never the inner policy's eviction listener.
* The heap keeps stale items (replaced or deleted deadlines) until they surface; it is
  rebuilt when stale items outnumber live ones, which bounds it at about twice the cache.

Use the wrapper, not the inner cache, once wrapped: the deadlines follow the wrapper's
calls (and the inner policy's evictions, through its listener).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Generic, cast

from hld.core.cache.base import Cache, CacheStatistics, K, V

# The heap is rebuilt when it holds more than this many times the live deadlines (plus a
# small floor so tiny caches do not rebuild on every other put).
HEAP_SLACK_RATIO = 2
HEAP_SLACK_FLOOR = 64


def check_ttl(ttl_s: float, name: str = "ttl_s") -> float:
    """``ttl_s`` if it is a positive finite number of seconds; TypeError or ValueError."""
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(ttl_s).__name__}")
    if not math.isfinite(ttl_s) or ttl_s <= 0:
        raise ValueError(f"{name} must be a positive finite number of seconds, got {ttl_s}")
    return float(ttl_s)


class TTLCache(Generic[K, V]):
    """Any cache policy with a deadline per entry; time is passed in as ``now``."""

    def __init__(self, inner: Cache[K, V], *, default_ttl_s: float | None = None,
                 on_expire: Callable[[K, V], None] | None = None) -> None:
        if not isinstance(inner, Cache):
            raise TypeError(f"inner must be a Cache, not {type(inner).__name__}")
        self._inner = inner
        self._default_ttl_s = None if default_ttl_s is None else check_ttl(
            default_ttl_s, "default_ttl_s")
        self._on_expire = on_expire
        self._deadlines: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._sequence = 0
        self._expirations = 0
        self._expired_misses = 0
        # Follow the inner policy's evictions so their deadlines go with them.
        self._chained = inner.on_evict
        inner.on_evict = self._inner_evicted

    @property
    def inner(self) -> Cache[K, V]:
        return self._inner

    @property
    def default_ttl_s(self) -> float | None:
        return self._default_ttl_s

    def _inner_evicted(self, key: K, value: V) -> None:
        self._deadlines.pop(key, None)
        if self._chained is not None:
            self._chained(key, value)

    # -- reading ------------------------------------------------------------------------

    def get(self, key: K, now: float, default: V | None = None) -> V | None:
        """The live value for ``key`` (a hit) or ``default`` (a miss)."""
        deadline = self._deadlines.get(key)
        if deadline is not None and now >= deadline:
            self._drop(key)
            self._expired_misses += 1
            return default
        return self._inner.get(key, default)

    def peek(self, key: K, now: float, default: V | None = None) -> V | None:
        """The live value without touching recency, statistics or expired entries."""
        deadline = self._deadlines.get(key)
        if deadline is not None and now >= deadline:
            return default
        return self._inner.peek(key, default)

    def contains(self, key: K, now: float) -> bool:
        deadline = self._deadlines.get(key)
        if deadline is not None and now >= deadline:
            return False
        return key in self._inner

    def keys(self, now: float) -> list[K]:
        """The keys of live entries."""
        deadlines = self._deadlines
        return [key for key in self._inner
                if (deadline := deadlines.get(key)) is None or now < deadline]

    def ttl_remaining_s(self, key: K, now: float) -> float | None:
        """Seconds ``key`` has left; None if absent, expired, or without a deadline."""
        deadline = self._deadlines.get(key)
        if deadline is None or now >= deadline:
            return None
        return deadline - now

    def next_deadline(self) -> float | None:
        """The earliest deadline still pending (possibly stale), or None: a wake-up time."""
        heap = self._heap
        while heap and self._deadlines.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # -- writing ------------------------------------------------------------------------

    def put(self, key: K, value: V, now: float, ttl_s: float | None = None) -> None:
        """Insert or replace ``key``, alive for ``ttl_s`` (or the default) from ``now``.

        Without a ttl and without a default the entry never expires. Replacing an entry
        gives it the new deadline (or none).
        """
        ttl_s = self._default_ttl_s if ttl_s is None else check_ttl(ttl_s)
        self.expire(now)
        self._inner.put(key, value)
        if key not in self._inner:  # a policy with an admission filter may refuse it
            self._deadlines.pop(key, None)
            return
        if ttl_s is None:
            self._deadlines.pop(key, None)
            return
        deadline = now + ttl_s
        self._deadlines[key] = deadline
        self._sequence += 1
        heap = self._heap
        heapq.heappush(heap, (deadline, self._sequence, key))
        if len(heap) > HEAP_SLACK_RATIO * len(self._deadlines) + HEAP_SLACK_FLOOR:
            self._rebuild_heap()

    def delete(self, key: K) -> bool:
        self._deadlines.pop(key, None)
        return self._inner.delete(key)

    def expire(self, now: float) -> int:
        """Drop every entry whose deadline has come; returns how many were dropped."""
        heap = self._heap
        deadlines = self._deadlines
        dropped = 0
        while heap and heap[0][0] <= now:
            deadline, _, key = heapq.heappop(heap)
            if deadlines.get(key) == deadline:
                self._drop(key)
                dropped += 1
        return dropped

    def _drop(self, key: K) -> None:
        del self._deadlines[key]
        value = self._inner.peek(key)
        self._inner.delete(key)
        self._expirations += 1
        if self._on_expire is not None:
            self._on_expire(key, cast(V, value))

    def _rebuild_heap(self) -> None:
        self._heap = [(deadline, sequence, key) for sequence, (key, deadline)
                      in enumerate(self._deadlines.items())]
        heapq.heapify(self._heap)

    def clear(self) -> None:
        self._inner.clear()
        self._deadlines.clear()
        self._heap.clear()

    # -- statistics ---------------------------------------------------------------------

    def statistics(self) -> CacheStatistics:
        """The inner policy's counters, plus expired-entry misses and expirations."""
        stats = self._inner.statistics()
        return replace(stats, misses=stats.misses + self._expired_misses,
                       expirations=self._expirations)

    def reset_statistics(self) -> None:
        self._inner.reset_statistics()
        self._expirations = self._expired_misses = 0

    def __len__(self) -> int:
        """Entries held, including expired ones not purged yet (``expire`` first to count
        only live ones)."""
        return len(self._inner)

    def __repr__(self) -> str:
        return (f"TTLCache({self._inner!r}, default_ttl_s={self._default_ttl_s}, "
                f"deadlines={len(self._deadlines)})")
