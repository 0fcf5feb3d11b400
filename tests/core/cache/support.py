"""Helpers shared by the cache tests: building any registered policy, seeded workloads."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from hld.core.cache import POLICIES, Cache, make

# Policies that need the future of the trace cannot answer an open-ended contract test.
OFFLINE_POLICIES = frozenset({"opt"})
ONLINE_POLICIES = tuple(name for name in POLICIES if name not in OFFLINE_POLICIES)


def build(name: str, capacity: int, *, trace: Sequence[Any] | None = None,
          **options: Any) -> Cache[Any, Any]:
    """``make(name, capacity)`` with the options a policy needs to be deterministic.

    A test that knows its whole request sequence in advance passes it as ``trace`` and so
    runs offline policies too (they are given it); other tests skip them.
    """
    if name in OFFLINE_POLICIES:
        if trace is None:
            pytest.skip(f"{name} needs the whole future trace; it has its own tests")
        options["trace"] = list(trace)
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
