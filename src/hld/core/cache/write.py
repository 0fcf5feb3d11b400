"""Write policies: how a cache and the store behind it stay in step.

A ``BackingStore`` is whatever holds the truth (a database, a remote service); the core
sees only three calls: ``load(key) -> value | None``, ``store(key, value)`` and
``remove(key)``. Each policy wraps a cache built by ``make`` and a store:

* reads are the same for all: ``get`` returns the cached value, or on a miss loads it
  from the store and caches it (read-through). Cache-aside is the same sequence with the
  application making the calls, so the two are one implementation here;
* ``WriteThrough``: a write updates the cache and the store before returning;
* ``WriteAround`` (also ``CacheAside``): a write goes to the store and invalidates the
  cached copy, so the next read loads the new value;
* ``WriteBack``: a write updates the cache only and marks the entry dirty; dirty entries
  reach the store when the policy evicts them (through ``on_evict``) or on ``flush()``.
  ``crash()`` models losing the cache process: the cache empties and every dirty write
  not yet flushed is lost, counted in ``statistics().lost_writes``.

``None`` means "absent" on both sides (a miss in the cache, no row in the store), so it
cannot be written as a value: ``put(key, None)`` is a ValueError; use ``delete``.

The core is sans-IO and single-threaded, so there is no single-flight on read misses:
concurrent misses for one key are a runtime concern (the shell that awaits the store
should coalesce them), not something a synchronous ``load`` call can race on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from hld.core.cache.base import Cache, CacheStatistics, K, V

KeyT_contra = TypeVar("KeyT_contra", bound=Hashable, contravariant=True)


class BackingStore(Protocol[KeyT_contra, V]):
    """The system of record behind a cache."""

    def load(self, key: KeyT_contra, /) -> V | None:
        """The stored value, or None if the key is absent."""

    def store(self, key: KeyT_contra, value: V, /) -> None: ...

    def remove(self, key: KeyT_contra, /) -> None: ...


@dataclass(frozen=True, slots=True)
class WriteStatistics:
    """A snapshot of a write policy's traffic to the store, with the cache's counters."""

    cache: CacheStatistics
    loads: int  # store.load calls (read misses)
    stores: int  # store.store calls, whatever the reason
    removes: int  # store.remove calls
    invalidations: int  # cached copies dropped because the store changed under them
    flushes: int  # dirty entries written back (on eviction or flush())
    lost_writes: int  # dirty writes dropped by crash()
    dirty: int  # dirty entries held now


class WritePolicy(ABC, Generic[K, V]):
    """Read-through reads; subclasses decide what a write does."""

    name: str = "write"

    def __init__(self, cache: Cache[K, V], store: BackingStore[K, V]) -> None:
        if not isinstance(cache, Cache):
            raise TypeError(f"cache must be a Cache, not {type(cache).__name__}")
        for method in ("load", "store", "remove"):
            if not callable(getattr(store, method, None)):
                raise TypeError(f"store must have load, store and remove; "
                                f"{type(store).__name__} has no {method}()")
        self._cache = cache
        self._store = store
        self._loads = 0
        self._stores = 0
        self._removes = 0
        self._invalidations = 0

    @property
    def cache(self) -> Cache[K, V]:
        return self._cache

    def get(self, key: K) -> V | None:
        """The value for ``key``: from the cache, else loaded from the store and cached."""
        value = self._cache.get(key)
        if value is not None:
            return value
        self._loads += 1
        value = self._store.load(key)
        if value is not None:
            self._cache.put(key, value)
        return value

    @abstractmethod
    def put(self, key: K, value: V) -> None:
        """Write ``value`` for ``key``, as the policy prescribes."""

    @staticmethod
    def _check_value(key: K, value: V) -> None:
        if value is None:
            raise ValueError(f"cannot write None for {key!r}: None means absent; "
                             f"use delete() to remove a key")

    def delete(self, key: K) -> None:
        """Remove ``key`` from the store and the cache."""
        self._removes += 1
        self._store.remove(key)
        self._cache.delete(key)

    def statistics(self) -> WriteStatistics:
        return WriteStatistics(self._cache.statistics(), self._loads, self._stores,
                               self._removes, self._invalidations, 0, 0, 0)


class WriteThrough(WritePolicy[K, V]):
    """Writes update the cache and the store, synchronously."""

    name = "write-through"

    def put(self, key: K, value: V) -> None:
        self._check_value(key, value)
        self._stores += 1
        self._store.store(key, value)  # the store first: a failure leaves the cache clean
        self._cache.put(key, value)


class WriteAround(WritePolicy[K, V]):
    """Writes go to the store and invalidate the cached copy."""

    name = "write-around"

    def put(self, key: K, value: V) -> None:
        self._check_value(key, value)
        self._stores += 1
        self._store.store(key, value)
        if self._cache.delete(key):
            self._invalidations += 1


class CacheAside(WriteAround[K, V]):
    """Cache-aside: update the store, then drop the cached copy (never set it)."""

    name = "cache-aside"


class WriteBack(WritePolicy[K, V]):
    """Writes stay in the cache, dirty, until evicted or flushed; crash() loses them."""

    name = "write-back"

    def __init__(self, cache: Cache[K, V], store: BackingStore[K, V]) -> None:
        super().__init__(cache, store)
        # Dirty keys are a subset of the cached keys, so the cache's capacity bounds them.
        self._dirty: set[K] = set()
        self._flushes = 0
        self._lost_writes = 0
        self._chained = cache.on_evict
        cache.on_evict = self._evicted

    @property
    def dirty(self) -> frozenset[K]:
        return frozenset(self._dirty)

    def _evicted(self, key: K, value: V) -> None:
        if key in self._dirty:
            self._dirty.discard(key)
            self._write_back(key, value)
        if self._chained is not None:
            self._chained(key, value)

    def _write_back(self, key: K, value: V) -> None:
        self._flushes += 1
        self._stores += 1
        self._store.store(key, value)

    def put(self, key: K, value: V) -> None:
        self._check_value(key, value)
        self._cache.put(key, value)
        if key in self._cache:
            self._dirty.add(key)
        else:  # a policy with an admission filter refused it: keep the write anyway
            self._stores += 1
            self._store.store(key, value)

    def delete(self, key: K) -> None:
        self._dirty.discard(key)
        super().delete(key)

    def flush(self) -> int:
        """Write every dirty entry to the store; returns how many were written."""
        flushed = 0
        for key in list(self._dirty):
            value = self._cache.peek(key)
            if value is not None:
                self._write_back(key, value)
                flushed += 1
        self._dirty.clear()
        return flushed

    def crash(self) -> int:
        """Lose the cache: drop everything, dirty writes included; returns writes lost."""
        lost = len(self._dirty)
        self._lost_writes += lost
        self._dirty.clear()
        self._cache.clear()  # clear() deletes: no eviction, so nothing is written back
        return lost

    def statistics(self) -> WriteStatistics:
        return WriteStatistics(self._cache.statistics(), self._loads, self._stores,
                               self._removes, self._invalidations, self._flushes,
                               self._lost_writes, len(self._dirty))


WRITE_POLICIES: dict[str, type[WritePolicy[object, object]]] = {
    "cache-aside": CacheAside,
    "write-through": WriteThrough,
    "write-around": WriteAround,
    "write-back": WriteBack,
}


def make_write_policy(name: str, cache: Cache[K, V],
                      store: BackingStore[K, V]) -> WritePolicy[K, V]:
    """Build the write policy called ``name`` over ``cache`` and ``store``."""
    try:
        factory = WRITE_POLICIES[name.lower()]
    except (KeyError, AttributeError):
        known = ", ".join(WRITE_POLICIES)
        raise ValueError(f"unknown write policy {name!r}; known policies: {known}") from None
    policy: WritePolicy[K, V] = factory(cache, store)  # type: ignore[arg-type,assignment]
    return policy
