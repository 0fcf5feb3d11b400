"""Segmented LRU (SLRU) cache implementation (Karedla, Love and Wherry, 1994).

Two LRU segments. New entries enter the probation segment; a hit there promotes the entry
to the protected segment, which holds at most ``protected_ratio`` of the capacity (80% by
default). When the protected segment overflows, its least recently used entries are
demoted to the most recent end of probation, so they get one more chance before they
leave. Victims come from probation's least recent end (from protected's only when
probation is empty). Entries used once therefore never push out entries used twice: a
scan passes through probation alone.

Each segment is an ``OrderedDict`` holding the values, as in the plain LRU.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from hld.core.cache.base import Cache, EvictionListener, K, V, Weigher

PROTECTED_RATIO_DEFAULT = 0.8


class SLRUCache(Cache[K, V]):
    """Segmented LRU (SLRU) cache implementation."""

    name = "slru"

    def __init__(self, capacity: int, *, protected_ratio: float = PROTECTED_RATIO_DEFAULT,
                 weigher: Weigher[K, V] | None = None,
                 on_evict: EvictionListener[K, V] | None = None) -> None:
        super().__init__(capacity, weigher=weigher, on_evict=on_evict)
        if not 0.0 <= protected_ratio < 1.0:
            raise ValueError(f"protected_ratio must be in [0, 1), got {protected_ratio}")
        self._protected_capacity = int(capacity * protected_ratio)
        self._probation: OrderedDict[K, V] = OrderedDict()
        self._protected: OrderedDict[K, V] = OrderedDict()
        self._protected_weight = 0
        self._weights: dict[K, int] = {}

    @property
    def protected_capacity(self) -> int:
        return self._protected_capacity

    def get(self, key: K, default: V | None = None) -> V | None:
        protected = self._protected
        if key in protected:
            protected.move_to_end(key)
            self._hits += 1
            return protected[key]
        if key in self._probation:
            self._hits += 1
            return self._promote(key)
        self._misses += 1
        return default

    def _promote(self, key: K) -> V:
        value = self._probation.pop(key)
        protected = self._protected
        protected[key] = value
        weights = self._weights
        self._protected_weight += weights.get(key, 1)
        if self._protected_weight > self._protected_capacity:
            probation = self._probation
            while self._protected_weight > self._protected_capacity and protected:
                old_key, old_value = protected.popitem(last=False)
                self._protected_weight -= weights.get(old_key, 1)
                probation[old_key] = old_value
        return value

    def peek(self, key: K, default: V | None = None) -> V | None:
        if key in self._protected:
            return self._protected[key]
        return self._probation.get(key, default)

    def put(self, key: K, value: V) -> None:
        weight = 1 if self._weigher is None else self._weigh(key, value)
        if key in self:
            if self._weights.get(key, 1) == weight:
                if key in self._protected:
                    self._protected[key] = value
                    self._protected.move_to_end(key)
                else:
                    self._probation[key] = value
                    self._promote(key)
                return
            self.delete(key)
        probation = self._probation
        protected = self._protected
        weights = self._weights
        while self._weight + weight > self._capacity:
            if probation:
                old_key, old_value = probation.popitem(last=False)
                old_weight = weights.pop(old_key, 1)
            else:
                old_key, old_value = protected.popitem(last=False)
                old_weight = weights.pop(old_key, 1)
                self._protected_weight -= old_weight
            self._weight -= old_weight
            self._evicted(old_key, old_value)
        probation[key] = value
        if self._weigher is not None:
            weights[key] = weight
        self._weight += weight

    def delete(self, key: K) -> bool:
        if key in self._protected:
            del self._protected[key]
            self._protected_weight -= self._weights.get(key, 1)
        elif key in self._probation:
            del self._probation[key]
        else:
            return False
        self._weight -= self._weights.pop(key, 1)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._protected or key in self._probation

    def __len__(self) -> int:
        return len(self._protected) + len(self._probation)

    def __iter__(self) -> Iterator[K]:
        return iter([*self._probation, *self._protected])
