"""Helpers shared by the cache tests: building any registered policy, seeded workloads."""

from __future__ import annotations

import random
from typing import Any

import pytest

from hld.core.cache import POLICIES, Cache, make

# Policies that need the future of the trace cannot answer an open-ended contract test.
OFFLINE_POLICIES = frozenset({"opt"})
ONLINE_POLICIES = tuple(name for name in POLICIES if name not in OFFLINE_POLICIES)


def build(name: str, capacity: int, **options: Any) -> Cache[Any, Any]:
    """``make(name, capacity)`` with the options a policy needs to be deterministic."""
    if name in OFFLINE_POLICIES:
        pytest.skip(f"{name} needs the whole future trace; it has its own tests")
    if name == "random":
        options.setdefault("rng", random.Random(7))
    return make(name, capacity, **options)


def zipf_like(n: int, keys: int, seed: int) -> list[int]:
    """``n`` requests over ``keys`` keys, skewed toward small keys (a cheap Zipf stand-in)."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(keys)]
    return rng.choices(range(keys), weights=weights, k=n)


def replay(cache: Cache[Any, Any], requests: list[Any]) -> None:
    """Get-or-set: the way a trace replay drives a cache."""
    for key in requests:
        if cache.get(key) is None:
            cache.put(key, key)
