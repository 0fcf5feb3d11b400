"""Per-shard load statistics that expose hotspots.

``ShardLoad`` counts load per shard (requests, keys, bytes: whatever the caller records)
and ``statistics()`` returns a frozen snapshot: the counts, their mean, max/mean and
coefficient of variation, the hottest shards, and the hotspots, shards whose load is at
least ``hotspot_ratio`` times the mean. Max/mean is what capacity planning cares about
(the hottest shard saturates first); the standard deviation says how uneven the rest is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from hld.core.sharding.base import Key, Router, UnknownShardError, check_shards

DEFAULT_HOTSPOT_RATIO = 1.5  # a shard at 150 % of the mean load is a hotspot
DEFAULT_HOTTEST = 3


@dataclass(frozen=True, slots=True)
class LoadStatistics:
    """A snapshot of per-shard load."""

    counts: Mapping[str, int]
    total: int
    mean: float
    max: int
    min: int
    max_mean_ratio: float  # 0.0 without load
    stddev: float  # population standard deviation of the counts
    stddev_pct: float  # stddev / mean * 100; 0.0 without load
    hottest: tuple[tuple[str, int], ...]  # heaviest first, ties by shard name
    hotspots: tuple[str, ...]  # shards with load >= hotspot_ratio * mean


def load_statistics(counts: Mapping[str, int], *, hotspot_ratio: float = DEFAULT_HOTSPOT_RATIO,
                    hottest: int = DEFAULT_HOTTEST) -> LoadStatistics:
    """Statistics of ``counts`` (shard -> load)."""
    values = list(counts.values())
    n = len(values)
    total = sum(values)
    mean = total / n if n else 0.0
    stddev = math.sqrt(sum((v - mean) ** 2 for v in values) / n) if n else 0.0
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return LoadStatistics(
        counts=MappingProxyType(dict(counts)),
        total=total,
        mean=mean,
        max=max(values, default=0),
        min=min(values, default=0),
        max_mean_ratio=max(values) / mean if mean else 0.0,
        stddev=stddev,
        stddev_pct=stddev / mean * 100 if mean else 0.0,
        hottest=tuple(ranked[:hottest]),
        hotspots=tuple(shard for shard, v in ranked if mean and v >= hotspot_ratio * mean),
    )


class ShardLoad:
    """Load counters for a fixed set of shards."""

    def __init__(self, shards: Iterable[str], *, hotspot_ratio: float = DEFAULT_HOTSPOT_RATIO,
                 hottest: int = DEFAULT_HOTTEST) -> None:
        if not hotspot_ratio > 1.0:
            raise ValueError(f"hotspot_ratio must be > 1 (1.5 = 50 % above the mean),"
                             f" got {hotspot_ratio!r}")
        if hottest < 1:
            raise ValueError(f"hottest must be >= 1, got {hottest}")
        self._counts = dict.fromkeys(check_shards(list(shards)), 0)
        self._hotspot_ratio = hotspot_ratio
        self._hottest = hottest

    @classmethod
    def of(cls, router: Router, keys: Iterable[Key], *,
           hotspot_ratio: float = DEFAULT_HOTSPOT_RATIO,
           hottest: int = DEFAULT_HOTTEST) -> ShardLoad:
        """Counts of ``keys`` per shard of ``router`` (one unit per key)."""
        load = cls(router.shards, hotspot_ratio=hotspot_ratio, hottest=hottest)
        for key in keys:
            load.record(router.lookup(key))
        return load

    def record(self, shard: str, amount: int = 1) -> None:
        try:
            self._counts[shard] += amount
        except KeyError:
            raise UnknownShardError(f"shard {shard!r} is not tracked") from None

    def reset(self) -> None:
        for shard in self._counts:
            self._counts[shard] = 0

    def statistics(self) -> LoadStatistics:
        return load_statistics(self._counts, hotspot_ratio=self._hotspot_ratio,
                               hottest=self._hottest)
