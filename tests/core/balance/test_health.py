"""Outlier detection and active checks: who is out of rotation, for how long."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.balance import HealthTracker, OutlierDetection, RoundRobin

NAMES = [f"b{i}" for i in range(10)]


def tracker(names: list[str] = NAMES, **config: float) -> HealthTracker:
    health = HealthTracker(OutlierDetection(**config))  # type: ignore[arg-type]
    health.sync(names)
    return health


def fail(health: HealthTracker, name: str, times: int, now: float) -> None:
    for _ in range(times):
        health.record(name, False, now)


def test_defaults_are_envoys() -> None:
    assert OutlierDetection() == OutlierDetection(
        consecutive_failures=5, base_ejection_time_s=30.0, max_ejection_time_s=300.0,
        max_ejection_percent=10.0, decay_interval_s=10.0, uneject_on_active_success=True)


def test_five_consecutive_failures_eject() -> None:
    health = tracker()
    fail(health, "b3", 4, 0.0)
    assert not health.is_ejected("b3")
    fail(health, "b3", 1, 0.0)
    assert health.is_ejected("b3")
    assert health.statistics().ejected_until_s == {"b3": 30.0}


def test_a_success_resets_the_run_of_failures() -> None:
    health = tracker()
    fail(health, "b3", 4, 0.0)
    health.record("b3", True, 0.0)
    fail(health, "b3", 4, 0.0)
    assert not health.is_ejected("b3")


def test_readmitted_exactly_when_the_ejection_time_has_passed() -> None:
    health = tracker()
    fail(health, "b1", 5, 100.0)
    health.refresh(129.999)
    assert not health.is_available("b1")
    health.refresh(130.0)
    assert health.is_available("b1")


def test_ejection_times_grow_with_each_ejection_and_are_capped() -> None:
    health = tracker(base_ejection_time_s=30.0, max_ejection_time_s=100.0)
    durations = []
    now = 0.0
    for _ in range(6):
        fail(health, "b0", 5, now)
        until = health.statistics().ejected_until_s["b0"]
        durations.append(until - now)
        now = until  # fail again the moment it is back
    assert durations == [30.0, 60.0, 90.0, 100.0, 100.0, 100.0]


def test_the_multiplier_decays_while_the_backend_stays_in_service() -> None:
    health = tracker(base_ejection_time_s=30.0, decay_interval_s=10.0)
    fail(health, "b0", 5, 0.0)      # 1st: 30 s, back at 30
    fail(health, "b0", 5, 30.0)     # 2nd: 60 s, back at 90
    fail(health, "b0", 5, 105.0)    # one quiet interval: multiplier 2 -> 1, then 2
    assert health.statistics().ejected_until_s["b0"] == 105.0 + 60.0
    fail(health, "b0", 5, 1000.0)   # long quiet: multiplier back to 0, then 1
    assert health.statistics().ejected_until_s["b0"] == 1000.0 + 30.0


def test_at_most_max_ejection_percent_is_ejected() -> None:
    health = tracker(max_ejection_percent=20.0)  # 10 backends: 2 at most
    for name in NAMES:
        fail(health, name, 5, 0.0)
    assert health.ejected_count() == 2
    assert [n for n in NAMES if health.is_ejected(n)] == ["b0", "b1"]


def test_at_least_one_backend_can_be_ejected_in_a_small_pool() -> None:
    health = tracker(["a", "b", "c"])  # 10 % of 3 rounds down to 0: Envoy still ejects one
    fail(health, "a", 5, 0.0)
    fail(health, "b", 5, 0.0)
    assert (health.is_ejected("a"), health.is_ejected("b")) == (True, False)


def test_zero_percent_disables_ejection() -> None:
    health = tracker(max_ejection_percent=0.0)
    fail(health, "b0", 50, 0.0)
    assert health.ejected_count() == 0


def test_a_capped_backend_is_ejected_once_a_slot_frees() -> None:
    health = tracker(["a", "b", "c"], base_ejection_time_s=10.0)
    fail(health, "a", 5, 0.0)
    fail(health, "b", 5, 0.0)   # over the cap: stays in
    fail(health, "b", 1, 11.0)  # "a" is back; the run of failures continues
    assert (health.is_ejected("a"), health.is_ejected("b")) == (False, True)


def test_removing_an_ejected_backend_frees_its_slot() -> None:
    health = tracker(["a", "b", "c"])
    fail(health, "a", 5, 0.0)
    health.sync(["b", "c"])
    fail(health, "b", 5, 1.0)
    assert health.is_ejected("b")


def test_active_check_marks_down_and_up() -> None:
    health = tracker()
    health.report_health("b2", False, 0.0)
    assert not health.is_available("b2")
    assert health.statistics().unhealthy == frozenset({"b2"})
    health.report_health("b2", True, 1.0)
    assert health.is_available("b2")


def test_active_success_ends_a_passive_ejection_early() -> None:
    health = tracker()
    fail(health, "b2", 5, 0.0)
    health.report_health("b2", True, 1.0)
    assert health.is_available("b2")


def test_active_success_can_be_told_not_to_uneject() -> None:
    health = HealthTracker(OutlierDetection(uneject_on_active_success=False))
    health.sync(NAMES)
    fail(health, "b2", 5, 0.0)
    health.report_health("b2", True, 1.0)
    assert health.is_ejected("b2")


def test_active_report_for_an_unknown_backend_is_an_error() -> None:
    with pytest.raises(KeyError, match="add it to the pool"):
        tracker().report_health("nope", False, 0.0)


def test_without_outlier_detection_failures_never_eject() -> None:
    health = HealthTracker(outlier=None)
    health.sync(["a"])
    fail(health, "a", 100, 0.0)
    assert health.is_available("a")


def test_version_changes_with_availability_only() -> None:
    health = tracker()
    before = health.version
    health.record("b0", True, 0.0)
    fail(health, "b0", 4, 0.0)
    assert health.version == before
    fail(health, "b0", 1, 0.0)
    assert health.version > before


@pytest.mark.parametrize(("config", "message"), [
    ({"consecutive_failures": 0}, "consecutive_failures"),
    ({"base_ejection_time_s": -1.0}, "base_ejection_time_s"),
    ({"base_ejection_time_s": math.nan}, "base_ejection_time_s"),
    ({"max_ejection_time_s": 10.0}, "max_ejection_time_s"),
    ({"max_ejection_percent": 150.0}, "max_ejection_percent"),
    ({"decay_interval_s": 0.0}, "decay_interval_s"),
])
def test_bad_settings_are_rejected(config: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OutlierDetection(**config)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(base=st.integers(1, 60), cap=st.integers(1, 600), rounds=st.integers(1, 12))
def test_ejection_durations_never_shrink_and_never_exceed_the_cap(
        base: int, cap: int, rounds: int) -> None:
    """Whole seconds keep the arithmetic exact, so equality means equality."""
    cap = max(cap, base)
    health = tracker(base_ejection_time_s=base, max_ejection_time_s=cap)
    now, durations = 0.0, []
    for _ in range(rounds):
        fail(health, "b0", 5, now)
        until = health.statistics().ejected_until_s["b0"]
        durations.append(until - now)
        now = until
    assert durations == [min(base * k, cap) for k in range(1, rounds + 1)]


@settings(max_examples=50, deadline=None)
@given(size=st.integers(1, 30), percent=st.floats(0.0, 100.0),
       events=st.lists(st.tuples(st.integers(0, 29), st.booleans(), st.floats(0.0, 5.0)),
                       max_size=200))
def test_the_ejected_share_never_exceeds_the_cap(
        size: int, percent: float, events: list[tuple[int, bool, float]]) -> None:
    names = [f"n{i}" for i in range(size)]
    health = tracker(names, consecutive_failures=2, max_ejection_percent=percent,
                     base_ejection_time_s=3.0)
    cap = 0 if percent == 0 else max(1, math.floor(size * percent / 100))
    now = 0.0
    for index, ok, dt in events:
        now += dt
        health.record(names[index % size], ok, now)
        assert health.ejected_count() <= cap
        assert health.ejected_count() == len(health.statistics().ejected_until_s)


def test_a_balancer_shares_its_tracker_with_a_new_policy() -> None:
    """Live policy switch: the new balancer still avoids the ejected backend."""
    health = HealthTracker(OutlierDetection(consecutive_failures=1, max_ejection_percent=50))
    old = RoundRobin(["a", "b"], health=health)
    backend = old.pick(now=0.0)
    old.on_start(backend)
    old.on_finish(backend, 0.1, ok=False, now=0.0)
    new = RoundRobin(old.pool, health=health)
    assert backend.name == "a"
    assert {new.pick(now=1.0).name for _ in range(4)} == {"b"}


def test_shrinking_the_pool_cuts_short_the_ejections_that_end_soonest() -> None:
    health = tracker(max_ejection_percent=20.0)  # 10 backends: 2 may be ejected
    fail(health, "b0", 5, 0.0)   # until 30
    fail(health, "b1", 5, 5.0)   # until 35
    health.sync(NAMES[:2] + NAMES[4:8])  # 6 backends: cap 1
    assert health.statistics().ejected_until_s == {"b1": 35.0}
    assert health.is_available("b0")


def test_a_backend_removed_and_added_back_starts_fresh() -> None:
    health = HealthTracker(OutlierDetection())
    health.sync({"a": 1, "b": 2})
    health.report_health("a", False, 0.0)
    health.sync({"a": 3, "b": 2})  # same name, new incarnation
    assert health.is_available("a")


def test_a_success_through_the_balancer_resets_the_run_of_failures() -> None:
    health = HealthTracker(OutlierDetection(consecutive_failures=3, max_ejection_percent=50))
    balancer = RoundRobin(["a", "b"], health=health)
    a = balancer.pool.get("a")
    assert a is not None
    for ok in (False, False, True, False, False):
        balancer.on_start(a)
        balancer.on_finish(a, 0.1, ok=ok, now=1.0)
    assert (health.is_ejected("a"), health.failing) == (False, {"a"})
    balancer.on_start(a)
    balancer.on_finish(a, 0.1, ok=False, now=1.0)
    assert (health.is_ejected("a"), health.failing) == (True, set())
