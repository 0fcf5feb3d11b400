"""Most Recently Used (MRU) cache implementation.

The victim is the entry used last. That is the right choice for cyclic scans larger than
the cache (the entry just read is the one needed furthest in the future) and the wrong
one almost everywhere else, which is why it is here: as a contrast in experiments. The
recency list is an ``OrderedDict`` as in LRU; eviction pops from the recent end.
"""

from __future__ import annotations

from collections import OrderedDict

from hld.core.cache.base import DictBackedCache, EvictionListener, K, V, Weigher


class MRUCache(DictBackedCache[K, V]):
    """Most Recently Used (MRU) cache implementation."""

    name = "mru"

    def __init__(self, capacity: int, *, weigher: Weigher[K, V] | None = None,
                 on_evict: EvictionListener[K, V] | None = None) -> None:
        super().__init__(capacity, weigher=weigher, on_evict=on_evict)
        self._data: OrderedDict[K, V] = OrderedDict()
        self._weights: dict[K, int] = {}

    def get(self, key: K, default: V | None = None) -> V | None:
        data = self._data
        if key in data:
            data.move_to_end(key)
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
                data.move_to_end(key)
                return
            self.delete(key)
        weights = self._weights
        while self._weight + weight > self._capacity:
            old_key, old_value = data.popitem(last=True)
            self._weight -= weights.pop(old_key, 1)
            self._evicted(old_key, old_value)
        data[key] = value
        if self._weigher is not None:
            weights[key] = weight
        self._weight += weight
