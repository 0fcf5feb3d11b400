"""Last In First Out (LIFO) cache implementation.

The victim is the most recently inserted entry, so whatever filled the cache first stays
for good: a baseline that shows what ignoring recency costs (and the rare workload, such
as a loop slightly larger than the cache, where keeping old entries wins). A plain dict's
insertion order is the stack; ``popitem()`` pops its newest key in O(1). Replacing a
value keeps the key's place, so updates do not make an entry the next victim.
"""

from __future__ import annotations

from hld.core.cache.base import DictBackedCache, EvictionListener, K, V, Weigher


class LIFOCache(DictBackedCache[K, V]):
    """Last In First Out (LIFO) cache implementation."""

    name = "lifo"

    def __init__(self, capacity: int, *, weigher: Weigher[K, V] | None = None,
                 on_evict: EvictionListener[K, V] | None = None) -> None:
        super().__init__(capacity, weigher=weigher, on_evict=on_evict)
        self._data: dict[K, V] = {}
        self._weights: dict[K, int] = {}

    def get(self, key: K, default: V | None = None) -> V | None:
        data = self._data
        if key in data:
            self._hits += 1
            return data[key]
        self._misses += 1
        return default

    def peek(self, key: K, default: V | None = None) -> V | None:
        return self._data.get(key, default)

    def put(self, key: K, value: V) -> None:
        data = self._data
        weight = 1 if self._weigher is None else self._weigh(key, value)
        if key in data:
            if self._weights.get(key, 1) == weight:
                data[key] = value
                return
            self.delete(key)
        weights = self._weights
        while self._weight + weight > self._capacity:
            old_key, old_value = data.popitem()
            self._weight -= weights.pop(old_key, 1)
            self._evicted(old_key, old_value)
        data[key] = value
        if self._weigher is not None:
            weights[key] = weight
        self._weight += weight
