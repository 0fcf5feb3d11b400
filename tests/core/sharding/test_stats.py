"""Per-shard load statistics: the numbers, and hotspots exposed."""

from __future__ import annotations

import pytest

from hld.core.sharding import RangeRouter, ShardLoad, UnknownShardError, load_statistics


def test_statistics_of_a_known_distribution() -> None:
    stats = load_statistics({"a": 10, "b": 20, "c": 30, "d": 40})
    assert (stats.total, stats.mean, stats.max, stats.min) == (100, 25.0, 40, 10)
    assert stats.max_mean_ratio == pytest.approx(1.6)
    assert stats.stddev == pytest.approx(125 ** 0.5)
    assert stats.stddev_pct == pytest.approx(125 ** 0.5 / 25 * 100)
    assert stats.hottest == (("d", 40), ("c", 30), ("b", 20))
    assert stats.hotspots == ("d",)


def test_an_even_load_has_no_hotspot() -> None:
    stats = load_statistics(dict.fromkeys("abcd", 5))
    assert (stats.stddev, stats.max_mean_ratio, stats.hotspots) == (0.0, 1.0, ())


def test_no_load_is_all_zeros() -> None:
    stats = ShardLoad(["a", "b"]).statistics()
    assert (stats.total, stats.mean, stats.max_mean_ratio, stats.stddev_pct) == (0, 0.0, 0.0, 0.0)
    assert stats.hotspots == ()


def test_sequential_keys_on_a_range_router_make_a_hotspot() -> None:
    router = RangeRouter(["old", "mid", "new"], ["2024-01", "2025-01"])
    keys = [f"2025-06-{d:02d}T{h:02d}" for d in range(1, 29) for h in range(24)]
    keys += ["2023-05-01", "2024-05-01"]
    stats = ShardLoad.of(router, keys).statistics()
    assert stats.hotspots == ("new",)
    assert stats.hottest[0] == ("new", 28 * 24)


def test_records_and_reset() -> None:
    load = ShardLoad(["a", "b"], hotspot_ratio=1.2, hottest=1)
    load.record("a", 3)
    load.record("b")
    stats = load.statistics()
    assert stats.counts == {"a": 3, "b": 1}
    assert stats.hottest == (("a", 3),)
    assert stats.hotspots == ("a",)
    load.reset()
    assert load.statistics().total == 0


def test_snapshots_are_frozen() -> None:
    load = ShardLoad(["a"])
    load.record("a")
    stats = load.statistics()
    load.record("a")
    assert stats.counts["a"] == 1
    with pytest.raises(TypeError):
        stats.counts["a"] = 5  # type: ignore[index]


def test_bad_input_is_rejected() -> None:
    with pytest.raises(UnknownShardError):
        ShardLoad(["a"]).record("b")
    with pytest.raises(ValueError, match="hotspot_ratio"):
        ShardLoad(["a"], hotspot_ratio=1.0)
    with pytest.raises(ValueError, match="hottest"):
        ShardLoad(["a"], hottest=0)
