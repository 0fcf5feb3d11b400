"""Belady's optimal (OPT / MIN) cache, for offline replays of a known trace.

OPT evicts the entry whose next use lies farthest in the future, which no online policy
can know; it is the upper bound every policy's hit ratio is measured against. It is built
with the whole trace: ``make("opt", capacity, trace=keys)``.

Strategy: one backward pass over the trace computes, for each request position, the
position of the same key's next request (``next_use``; a key never requested again gets
a position past the end, distinct per request so ties break deterministically). Resident
keys sit in a max-heap by next use. A hit pushes the key again with its new next use and
leaves the old heap item to be discarded lazily when it surfaces, and the heap is
rebuilt from the live entries whenever stale items outnumber live ones several times, so
memory stays proportional to the capacity, not to the trace.

Positions: the cache must see exactly the trace's requests, in order. Each request is one
``get`` (which consumes the next trace position), optionally followed by a ``put`` of the
same key when the get missed: the get-or-put pattern of a replay. A ``put`` that does not
follow a missed ``get`` of its key consumes the next position itself (a put-only replay).
A request that does not match the trace raises ``ValueError``. When the arriving key's
own next use is farther than every resident's, keeping it would cost a later hit, so OPT
declines it (counted as an eviction of the new entry), which is Belady's MIN with bypass.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterator, Sequence

from hld.core.cache.base import Cache, EvictionListener, K, V, Weigher

STALE_HEAP_FACTOR = 4      # rebuild the heap when it holds this many times the live entries
STALE_HEAP_SLACK = 64      # ... plus this many, so tiny caches do not rebuild constantly


def next_uses(trace: Sequence[Hashable]) -> list[int]:
    """For each position, the position of the next request for the same key.

    Keys never requested again get ``len(trace) + position``: past the end, and distinct.
    """
    n = len(trace)
    result = [0] * n
    seen: dict[Hashable, int] = {}
    for position in range(n - 1, -1, -1):
        key = trace[position]
        result[position] = seen.get(key, n + position)
        seen[key] = position
    return result


class OPTCache(Cache[K, V]):
    """Belady's optimal (OPT) cache implementation for a known trace."""

    name = "opt"

    def __init__(self, capacity: int, *, trace: Sequence[K],
                 weigher: Weigher[K, V] | None = None,
                 on_evict: EvictionListener[K, V] | None = None) -> None:
        super().__init__(capacity, weigher=weigher, on_evict=on_evict)
        self._trace = trace
        self._next_use = next_uses(trace)
        self._position = 0                     # next trace position to consume
        self._pending: K | None = None         # key whose get just missed, awaiting its put
        self._pending_next = 0
        self._data: dict[K, V] = {}
        self._due: dict[K, int] = {}           # resident key -> position of its next use
        self._weights: dict[K, int] = {}
        self._heap: list[tuple[int, K]] = []   # (-next use, key), stale items allowed

    @property
    def position(self) -> int:
        """How many trace requests have been consumed."""
        return self._position

    def _consume(self, key: K) -> int:
        """Advance one trace position for ``key``; return the key's next use."""
        position = self._position
        if position >= len(self._trace):
            raise ValueError(f"OPT was given request {position + 1} but its trace has only "
                             f"{len(self._trace)}; replay exactly the trace it was built with")
        if self._trace[position] != key:
            raise ValueError(f"OPT expected {self._trace[position]!r} at trace position "
                             f"{position}, got {key!r}; replay exactly its trace, in order")
        self._position = position + 1
        return self._next_use[position]

    def get(self, key: K, default: V | None = None) -> V | None:
        next_use = self._consume(key)
        if key in self._data:
            self._hits += 1
            self._pending = None
            self._due[key] = next_use
            self._push(next_use, key)
            return self._data[key]
        self._misses += 1
        self._pending = key
        self._pending_next = next_use
        return default

    def peek(self, key: K, default: V | None = None) -> V | None:
        return self._data.get(key, default)

    def put(self, key: K, value: V) -> None:
        if self._pending is not None and self._pending == key:
            next_use = self._pending_next
        else:
            next_use = self._consume(key)
        self._pending = None
        weight = self._weigh(key, value)
        if key in self._data:
            self._weight -= self._weights.pop(key)
            del self._data[key]
            del self._due[key]
        while self._data and self._weight + weight > self._capacity:
            farthest = self._farthest()
            if self._due[farthest] < next_use:
                # The new entry is needed later than every resident: keep them instead.
                self._evicted(key, value)
                return
            self._remove(farthest)
        self._data[key] = value
        self._weights[key] = weight
        self._weight += weight
        self._due[key] = next_use
        self._push(next_use, key)

    def delete(self, key: K) -> bool:
        if key not in self._data:
            return False
        del self._data[key]
        del self._due[key]
        self._weight -= self._weights.pop(key)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._data))

    # -- internals -------------------------------------------------------------------

    def _push(self, next_use: int, key: K) -> None:
        heap = self._heap
        heapq.heappush(heap, (-next_use, key))
        if len(heap) > STALE_HEAP_FACTOR * len(self._due) + STALE_HEAP_SLACK:
            self._heap = [(-due, k) for k, due in self._due.items()]
            heapq.heapify(self._heap)

    def _farthest(self) -> K:
        """The resident key used farthest in the future (stale heap items dropped)."""
        heap = self._heap
        due = self._due
        while True:
            negative_next, key = heap[0]
            if due.get(key) == -negative_next:
                return key
            heapq.heappop(heap)

    def _remove(self, key: K) -> None:
        value = self._data.pop(key)
        del self._due[key]
        self._weight -= self._weights.pop(key)
        heapq.heappop(self._heap)  # _farthest left this key's live item on top
        self._evicted(key, value)
