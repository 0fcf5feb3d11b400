"""Least Recently Used (LRU) cache implementation.

An insertion-ordered dict is the recency list: a hit moves the key to the end, eviction
pops from the front. ``OrderedDict.move_to_end`` and ``popitem(last=False)`` are O(1)
and implemented in C, which is what makes this cheaper than a linked list in Python.
"""

from __future__ import annotations

from collections import OrderedDict

from hld.core.cache.base import DictBackedCache, EvictionListener, K, V, Weigher


class LRUCache(DictBackedCache[K, V]):
    """Least Recently Used (LRU) cache implementation."""

    name = "lru"

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
        if self._weigher is None:
            if key in data:
                data[key] = value
                data.move_to_end(key)
                return
            if self._weight >= self._capacity:
                old_key, old_value = data.popitem(last=False)
                # Inlined _evicted(): one call fewer on every miss of a full cache.
                self._evictions += 1
                if self._on_evict is not None:
                    self._on_evict(old_key, old_value)
            else:
                self._weight += 1
            data[key] = value
            return
        weight = self._weigh(key, value)
        if key in data:
            self._weight -= self._weights[key]
            del data[key]
        while data and self._weight + weight > self._capacity:
            old_key, old_value = data.popitem(last=False)
            self._weight -= self._weights.pop(old_key)
            self._evicted(old_key, old_value)
        data[key] = value
        self._weights[key] = weight
        self._weight += weight
