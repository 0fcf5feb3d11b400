"""Cache policies behind one interface (``hld.core.cache.base.Cache``).

``make(name, capacity, **options)`` builds a policy by name; ``POLICIES`` lists the
names. Policies register themselves in ``_registry`` below as their modules arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hld.core.cache.base import Cache, CacheStatistics
from hld.core.cache.lru import LRUCache

_registry: dict[str, Callable[..., Cache[Any, Any]]] = {
    "lru": LRUCache,
}

POLICIES: tuple[str, ...] = tuple(_registry)


def make(name: str, capacity: int, **options: Any) -> Cache[Any, Any]:
    """Build the policy called ``name`` (case-insensitive) holding ``capacity`` entries."""
    try:
        factory = _registry[name.lower()]
    except KeyError:
        known = ", ".join(POLICIES)
        raise ValueError(f"unknown cache policy {name!r}; known policies: {known}") from None
    return factory(capacity, **options)


__all__ = ["POLICIES", "Cache", "CacheStatistics", "LRUCache", "make"]
