"""First In First Out (FIFO) cache implementation.

An ``OrderedDict`` is the queue: new keys enter at the end, the victim is popped from the
front. A hit changes nothing, which is the point of FIFO: reads are as cheap as a dict
lookup and never write. ``popitem(last=False)`` is O(1); a plain dict would leave deleted
slots at its front and make "first key" a scan.
"""

from __future__ import annotations

from collections import OrderedDict

from hld.core.cache.base import DictBackedCache, EvictionListener, K, V, Weigher


class FIFOCache(DictBackedCache[K, V]):
    """First In First Out (FIFO) cache implementation."""

    name = "fifo"

    def __init__(self, capacity: int, *, weigher: Weigher[K, V] | None = None,
                 on_evict: EvictionListener[K, V] | None = None) -> None:
        super().__init__(capacity, weigher=weigher, on_evict=on_evict)
        self._data: OrderedDict[K, V] = OrderedDict()
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
        if self._weigher is None:
            if key in data:
                data[key] = value  # replacing keeps the key's place in the queue
                return
            if self._weight >= self._capacity:
                old_key, old_value = data.popitem(last=False)
                self._evictions += 1
                if self._on_evict is not None:
                    self._on_evict(old_key, old_value)
            else:
                self._weight += 1
            data[key] = value
            return
        weight = self._weigh(key, value)
        if key in data:
            if self._weights[key] == weight:
                data[key] = value
                return
            self._weight -= self._weights.pop(key)
            del data[key]
        while self._weight + weight > self._capacity:
            old_key, old_value = data.popitem(last=False)
            self._weight -= self._weights.pop(old_key)
            self._evicted(old_key, old_value)
        data[key] = value
        self._weights[key] = weight
        self._weight += weight
