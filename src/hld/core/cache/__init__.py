"""Cache policies behind one interface (``hld.core.cache.base.Cache``).

``make(name, capacity, **options)`` builds a policy by name; ``POLICIES`` lists the
names. Policies register themselves in ``_registry`` below as their modules arrive.

======== ========================================================= =====================
name     victim                                                    options
======== ========================================================= =====================
lru      least recently used                                       -
lfu      fewest uses, ties by least recent use (O(1) buckets)      -
slru     LRU of probation; two hits protect an entry               protected_ratio=0.8
fifo     oldest insertion; hits change nothing                     -
lifo     newest insertion                                          -
mru      most recently used (good only for loops)                  -
random   uniform draw                                              rng=random.Random(s)
clock    first unreferenced under the hand (second chance)         -
sieve    first unvisited from a persistent hand, no movement       -
s3fifo   small FIFO filters one-hit wonders; main 2-bit CLOCK      small_ratio=0.1
wtinylfu window LRU + frequency-sketch admission to an SLRU        see wtinylfu.py
opt      next use farthest in the future (offline)                 trace=keys (required)
======== ========================================================= =====================

All take ``weigher=`` (capacity in weight units instead of entries) and ``on_evict=``.
Expiry (``ttl.TTLCache``) and write policies (``write``) wrap any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hld.core.cache.base import Cache, CacheStatistics
from hld.core.cache.clock import ClockCache
from hld.core.cache.fifo import FIFOCache
from hld.core.cache.lfu import LFUCache
from hld.core.cache.lifo import LIFOCache
from hld.core.cache.lru import LRUCache
from hld.core.cache.mru import MRUCache
from hld.core.cache.opt import OPTCache
from hld.core.cache.rand import RandomCache
from hld.core.cache.s3fifo import S3FIFOCache
from hld.core.cache.sieve import SieveCache
from hld.core.cache.slru import SLRUCache
from hld.core.cache.wtinylfu import WTinyLFUCache

_registry: dict[str, Callable[..., Cache[Any, Any]]] = {
    "lru": LRUCache,
    "lfu": LFUCache,
    "slru": SLRUCache,
    "fifo": FIFOCache,
    "lifo": LIFOCache,
    "mru": MRUCache,
    "random": RandomCache,
    "clock": ClockCache,
    "sieve": SieveCache,
    "s3fifo": S3FIFOCache,
    "wtinylfu": WTinyLFUCache,
    "opt": OPTCache,
    # W-TinyLFU ("wtinylfu") and Belady's OPT ("opt") register here.
}

POLICIES: tuple[str, ...] = tuple(_registry)


def make(name: str, capacity: int, **options: Any) -> Cache[Any, Any]:
    """Build the policy called ``name`` (case-insensitive) holding ``capacity`` entries."""
    if not isinstance(name, str):
        raise TypeError(f"policy name must be a str, not {type(name).__name__}")
    try:
        factory = _registry[name.lower()]
    except KeyError:
        known = ", ".join(POLICIES)
        raise ValueError(f"unknown cache policy {name!r}; known policies: {known}") from None
    return factory(capacity, **options)


__all__ = [
    "POLICIES",
    "Cache",
    "CacheStatistics",
    "ClockCache",
    "FIFOCache",
    "LFUCache",
    "LIFOCache",
    "LRUCache",
    "MRUCache",
    "RandomCache",
    "S3FIFOCache",
    "SLRUCache",
    "SieveCache",
    "make",
]
