"""S3-FIFO cache implementation (Yang et al., "FIFO queues are all you need for cache
eviction", SOSP '23).

Three FIFO queues: a small queue S (10% of the capacity) where new keys start, a main
queue M (the other 90%), and a ghost queue G that remembers only the keys recently
dropped from S (as much key weight as M holds). Each resident entry has a frequency
counter capped at 3; a hit increments it and moves nothing.

* A miss whose key is in G goes straight to M (it came back soon after being dropped,
  so it is not a one-hit wonder); any other miss enters S.
* Eviction takes from S while S holds at least its 10% share (or M is empty), else from M.
* From S, the tail entry moves to M's head if it was hit at least ``move_to_main_threshold``
  times (2, as in the paper's Algorithm 1: ``freq > 1``) with its counter reset;
  otherwise it is evicted and its key enters G. This repeats until one entry leaves.
* From M, the tail entry is reinserted at the head with its counter decremented if the
  counter is non-zero, else evicted: FIFO with reinsertion, a 2-bit CLOCK.

Queues are ``OrderedDict``s of keys (head = last); values and counters live in one
``key -> [value, freq]`` dict so a hit costs one lookup. Sizes are by weight.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from hld.core.cache.base import Cache, EvictionListener, K, V, Weigher

FREQUENCY_MAX = 3  # two bits per entry, as published
SMALL_RATIO_DEFAULT = 0.1
MOVE_TO_MAIN_THRESHOLD_DEFAULT = 2

_VALUE = 0
_FREQ = 1


class S3FIFOCache(Cache[K, V]):
    """S3-FIFO cache implementation."""

    name = "s3fifo"

    def __init__(self, capacity: int, *, small_ratio: float = SMALL_RATIO_DEFAULT,
                 move_to_main_threshold: int = MOVE_TO_MAIN_THRESHOLD_DEFAULT,
                 weigher: Weigher[K, V] | None = None,
                 on_evict: EvictionListener[K, V] | None = None) -> None:
        super().__init__(capacity, weigher=weigher, on_evict=on_evict)
        if not 0.0 < small_ratio < 1.0:
            raise ValueError(f"small_ratio must be between 0 and 1 (exclusive), got {small_ratio}")
        if not 1 <= move_to_main_threshold <= FREQUENCY_MAX:
            raise ValueError(f"move_to_main_threshold must be 1..{FREQUENCY_MAX}, "
                             f"got {move_to_main_threshold}")
        # At least one unit each, so tiny caches still have both queues.
        self._small_capacity = max(1, int(capacity * small_ratio))
        self._ghost_capacity = max(1, capacity - self._small_capacity)
        self._threshold = move_to_main_threshold
        self._entries: dict[K, list[Any]] = {}
        self._weights: dict[K, int] = {}
        self._small: OrderedDict[K, None] = OrderedDict()
        self._main: OrderedDict[K, None] = OrderedDict()
        self._ghost: OrderedDict[K, int] = OrderedDict()  # key -> its weight when dropped
        self._small_weight = 0
        self._ghost_weight = 0

    def get(self, key: K, default: V | None = None) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            self._misses += 1
            return default
        if entry[_FREQ] < FREQUENCY_MAX:
            entry[_FREQ] += 1
        self._hits += 1
        value: V = entry[_VALUE]
        return value

    def peek(self, key: K, default: V | None = None) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return default
        value: V = entry[_VALUE]
        return value

    def put(self, key: K, value: V) -> None:
        entries = self._entries
        weight = 1 if self._weigher is None else self._weigh(key, value)
        entry = entries.get(key)
        if entry is not None:
            if self._weights.get(key, 1) == weight:
                entry[_VALUE] = value
                if entry[_FREQ] < FREQUENCY_MAX:
                    entry[_FREQ] += 1
                return
            self.delete(key)
        # Ask the ghost before evicting: the evictions below may push this key out of it.
        ghost_weight = self._ghost.pop(key, None)
        if ghost_weight is not None:
            self._ghost_weight -= ghost_weight
        while self._weight + weight > self._capacity:
            self._evict_one()
        entries[key] = [value, 0]
        if self._weigher is not None:
            self._weights[key] = weight
        self._weight += weight
        if ghost_weight is not None:
            self._main[key] = None
        else:
            self._small[key] = None
            self._small_weight += weight

    def _evict_one(self) -> None:
        # One method with the S and M loops inlined: evictions happen on most misses of a
        # full cache, and each Python call saved there is a few percent of the miss cost.
        entries = self._entries
        weights = self._weights
        small = self._small
        main = self._main
        if small and (self._small_weight >= self._small_capacity or not main):
            threshold = self._threshold
            while small:
                key, _ = small.popitem(last=False)
                entry = entries[key]
                weight = weights.get(key, 1)
                self._small_weight -= weight
                if entry[_FREQ] >= threshold:
                    entry[_FREQ] = 0
                    main[key] = None
                    continue
                ghost = self._ghost
                ghost[key] = weight
                self._ghost_weight += weight
                while self._ghost_weight > self._ghost_capacity:
                    self._ghost_weight -= ghost.popitem(last=False)[1]
                self._drop(key, entry)
                return
            # Everything in S was promoted: the victim comes from M.
        while True:
            key, _ = main.popitem(last=False)
            entry = entries[key]
            if entry[_FREQ]:
                entry[_FREQ] -= 1
                main[key] = None
                continue
            self._drop(key, entry)
            return

    def frequency(self, key: K) -> int:
        """The resident ``key``'s capped hit counter (0 if absent); for tests and tools."""
        entry = self._entries.get(key)
        return 0 if entry is None else int(entry[_FREQ])

    def _drop(self, key: K, entry: list[Any]) -> None:
        del self._entries[key]
        self._weight -= self._weights.pop(key, 1) if self._weights else 1
        self._evictions += 1
        if self._on_evict is not None:
            self._on_evict(key, entry[_VALUE])

    def delete(self, key: K) -> bool:
        if self._entries.pop(key, None) is None:
            return False
        weight = self._weights.pop(key, 1)
        self._weight -= weight
        if key in self._small:
            del self._small[key]
            self._small_weight -= weight
        else:
            del self._main[key]
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._entries))
