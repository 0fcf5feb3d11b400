"""Keyed limiters: one limiter per key, never more than ``max_keys``, idle keys expire."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.limit import GCRA, KeyedLimiter, SlidingLog, TokenBucket, make
from hld.core.limit.base import SWEEP_KEYS_MAX


def test_keys_are_limited_independently() -> None:
    keyed: KeyedLimiter[str] = KeyedLimiter(TokenBucket(1.0, 2))
    assert [keyed.allow("a", 0.0).allowed for _ in range(3)] == [True, True, False]
    assert [keyed.allow("b", 0.0).allowed for _ in range(3)] == [True, True, False]


def test_never_holds_more_than_max_keys() -> None:
    keyed: KeyedLimiter[int] = KeyedLimiter(GCRA(1.0, 5), max_keys=8)
    sizes = []
    for i in range(100):
        keyed.allow(i, i * 0.001)
        sizes.append(len(keyed))
    assert max(sizes) == 8
    stats = keyed.statistics()
    assert (stats.keys, stats.created, stats.evicted) == (8, 100, 92)


def test_least_recently_used_key_is_evicted_first() -> None:
    keyed: KeyedLimiter[str] = KeyedLimiter(GCRA(1.0, 5), max_keys=2)
    keyed.allow("a", 0.0)
    keyed.allow("b", 0.0)
    keyed.allow("a", 0.0)  # a is now the most recent
    keyed.allow("c", 0.0)
    assert sorted(keyed) == ["a", "c"]


def test_idle_keys_expire_once_their_limiter_is_fresh_again() -> None:
    keyed: KeyedLimiter[str] = KeyedLimiter(TokenBucket(10.0, 5), max_keys=100)
    for key in "abcdef":
        keyed.allow(key, 0.0)
    assert keyed.expire(0.05) == 0  # 0.1 s to refill one token: not fresh yet
    assert keyed.expire(0.1) == 6
    assert len(keyed) == 0
    assert keyed.statistics().expired == 6


def test_busy_keys_do_not_expire() -> None:
    keyed: KeyedLimiter[str] = KeyedLimiter(SlidingLog(5, 1.0))
    keyed.allow("idle", 0.0)
    keyed.allow("busy", 0.0)
    keyed.allow("busy", 0.9)
    assert keyed.expire(1.5) == 1
    assert list(keyed) == ["busy"]


def test_traffic_sweeps_idle_keys_without_an_explicit_expire() -> None:
    keyed: KeyedLimiter[int | str] = KeyedLimiter(GCRA(10.0, 1), max_keys=10_000)
    for i in range(SWEEP_KEYS_MAX):
        keyed.allow(i, 0.0)
    keyed.allow("late", 5.0)
    assert list(keyed) == ["late"]


def test_sweeps_are_bounded_per_decision() -> None:
    keyed: KeyedLimiter[int | str] = KeyedLimiter(GCRA(10.0, 1), max_keys=10_000)
    for i in range(3 * SWEEP_KEYS_MAX):
        keyed.allow(i, 0.0)
    keyed.allow("late", 5.0)
    assert len(keyed) == 2 * SWEEP_KEYS_MAX + 1


def test_expiry_is_lossless_for_every_algorithm() -> None:
    """A key that expired and returns gets the same decision as one never forgotten."""
    for name in ("token_bucket", "gcra", "fixed_window", "sliding_log",
                 "sliding_counter", "leaky_meter", "leaky_queue"):
        keyed: KeyedLimiter[str] = KeyedLimiter(make(name, 4.0, 3))
        solo = make(name, 4.0, 3)
        times = [0.0, 0.0, 0.1, 2.0, 2.0, 2.0, 2.0, 9.0]
        for now in times:
            keyed.expire(now)
            assert keyed.allow("k", now) == solo.allow(now), name


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 50)), max_size=120),
       st.integers(min_value=1, max_value=6))
def test_memory_bound_holds_under_any_traffic(events: list[tuple[int, int]],
                                              max_keys: int) -> None:
    keyed: KeyedLimiter[int] = KeyedLimiter(TokenBucket(2.0, 3), max_keys=max_keys)
    now = 0.0
    for key, step_cs in events:
        now += step_cs / 100
        keyed.allow(key, now)
        assert len(keyed) <= max_keys


def test_prototype_must_be_a_limiter() -> None:
    with pytest.raises(TypeError, match="prototype"):
        KeyedLimiter(object())  # type: ignore[arg-type]


@pytest.mark.parametrize("max_keys", [0, -5])
def test_max_keys_must_be_positive(max_keys: int) -> None:
    with pytest.raises(ValueError, match="max_keys"):
        KeyedLimiter(GCRA(1.0, 1), max_keys=max_keys)
