"""The one interface every cache policy implements.

A cache holds at most ``capacity`` units of weight; each entry weighs ``weigher(key,
value)`` (1 by default, so capacity is a count). ``get`` counts a hit or a miss and tells
the policy the key was used; ``peek`` and ``in`` look without touching recency or
statistics. Evictions are reported to an optional ``on_evict(key, value)`` listener, which
is how write-back caches flush dirty entries.

Shared semantics, so that every policy answers the same questions the same way:

* ``put`` of a key already present replaces its value and counts as a use of the key for
  the policy (LRU moves it to the most recent end, LFU counts it, SIEVE/CLOCK set its bit,
  FIFO leaves it in place) without touching hit/miss statistics. If the weigher gives the
  new value a different weight, the entry is re-admitted as new: removed, then inserted
  with evictions as needed, because a policy's bookkeeping is by entry, not by byte.
* ``put`` of a new key evicts victims, one at a time, until the new weight fits, then
  inserts, so a policy never holds more than ``capacity`` units between calls. A policy
  with an admission filter (W-TinyLFU) may choose the new entry itself as the victim;
  that is an eviction like any other, reported to the listener.
* ``delete`` is the owner's decision, not the policy's: it is not counted as an eviction
  and the listener is not called.

Policies implement ``get``/``put``/``delete`` themselves rather than hooks called from a
template method: the per-operation cost is the product, and an extra call per operation
is a large share of it in Python.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Weigher = Callable[[K, V], int]
EvictionListener = Callable[[K, V], None]


@dataclass(frozen=True, slots=True)
class CacheStatistics:
    """A snapshot of a cache's counters."""

    hits: int
    misses: int
    evictions: int
    size: int
    weight: int
    capacity: int
    #: Entries dropped because their time to live ran out (only caches with expiry).
    expirations: int = 0

    @property
    def requests(self) -> int:
        return self.hits + self.misses

    @property
    def hit_ratio(self) -> float:
        """Hits over requests; 0.0 before the first request."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    @property
    def miss_ratio(self) -> float:
        """Misses over requests; 0.0 before the first request."""
        total = self.hits + self.misses
        return self.misses / total if total else 0.0


def check_capacity(capacity: int) -> int:
    """``capacity`` if it is a positive int; TypeError or ValueError saying what is wrong."""
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise TypeError(f"capacity must be an int, not {type(capacity).__name__}")
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    return capacity


class Cache(ABC, Generic[K, V]):
    """Base of every policy: capacity, weight, counters and the eviction listener."""

    name: str = "cache"

    def __init__(self, capacity: int, *, weigher: Weigher[K, V] | None = None,
                 on_evict: EvictionListener[K, V] | None = None) -> None:
        self._capacity = check_capacity(capacity)
        self._weigher = weigher
        self._on_evict = on_evict
        self._weight = 0
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    # -- the interface -------------------------------------------------------------

    @abstractmethod
    def get(self, key: K, default: V | None = None) -> V | None:
        """The value for ``key`` (a hit, which the policy records) or ``default``."""

    @abstractmethod
    def peek(self, key: K, default: V | None = None) -> V | None:
        """The value for ``key`` without touching recency, frequency or statistics."""

    @abstractmethod
    def put(self, key: K, value: V) -> None:
        """Insert or replace ``key``, evicting entries until the new weight fits."""

    @abstractmethod
    def delete(self, key: K) -> bool:
        """Remove ``key``; True if it was present. Not counted as an eviction."""

    @abstractmethod
    def __contains__(self, key: object) -> bool: ...

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __iter__(self) -> Iterator[K]: ...

    # -- shared --------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def on_evict(self) -> EvictionListener[K, V] | None:
        """The eviction listener; write policies and TTL wrappers chain onto it."""
        return self._on_evict

    @on_evict.setter
    def on_evict(self, listener: EvictionListener[K, V] | None) -> None:
        self._on_evict = listener

    @property
    def weight(self) -> int:
        """Total weight held now (equals ``len`` without a weigher)."""
        return self._weight

    def _weigh(self, key: K, value: V) -> int:
        if self._weigher is None:
            return 1
        weight = self._weigher(key, value)
        if isinstance(weight, bool) or not isinstance(weight, int):
            raise TypeError(
                f"weigher returned {type(weight).__name__} for {key!r}; it must return an int")
        if weight < 0:
            raise ValueError(f"weigher returned {weight} for {key!r}; it must be >= 0")
        if weight > self._capacity:
            raise ValueError(
                f"entry {key!r} weighs {weight}, more than the whole capacity {self._capacity}")
        return weight

    def _evicted(self, key: K, value: V) -> None:
        self._evictions += 1
        if self._on_evict is not None:
            self._on_evict(key, value)

    def statistics(self) -> CacheStatistics:
        return CacheStatistics(self._hits, self._misses, self._evictions, len(self),
                               self._weight, self._capacity)

    def reset_statistics(self) -> None:
        self._hits = self._misses = self._evictions = 0

    def clear(self) -> None:
        for key in list(self):
            self.delete(key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(capacity={self._capacity}, size={len(self)})"


class DictBackedCache(Cache[K, V]):
    """The parts shared by policies that keep every entry in one dict (LRU, FIFO, MRU, LIFO).

    Subclasses create ``_data`` (a dict, or an ``OrderedDict`` when order is the policy)
    and ``_weights`` (weights of entries, kept only with a weigher) in ``__init__``.
    """

    _data: dict[K, V]
    _weights: dict[K, int]

    def delete(self, key: K) -> bool:
        if key not in self._data:
            return False
        del self._data[key]
        self._weight -= self._weights.pop(key, 1)
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._data))

