"""Backoff policies, the retry policy and the retry budget."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hld.core.resilience import (
    BACKOFFS,
    Backoff,
    DecorrelatedJitterBackoff,
    EqualJitterBackoff,
    ExponentialBackoff,
    FullJitterBackoff,
    NoBackoff,
    ResilienceConfigError,
    RetryBudget,
    RetryPolicy,
    backoff_named,
)

bases = st.floats(0.0, 1.0)
caps = st.floats(0.0, 60.0)
attempts = st.integers(1, 2_000)


# The contract's property tests run once per inheriting class, which hypothesis flags.
CONTRACT = settings(max_examples=60, suppress_health_check=[HealthCheck.differing_executors])


class BackoffContract:
    """What every backoff promises."""

    cls: type[Backoff]

    @CONTRACT
    @given(base=bases, extra=caps, failures=attempts, seed=st.integers(0, 2**32))
    def test_delays_lie_within_zero_and_cap(self, base: float, extra: float, failures: int,
                                            seed: int) -> None:
        backoff = self.cls(base, base + extra)
        rng = random.Random(seed)
        previous = base
        for n in range(failures, failures + 5):
            delay = backoff.delay_s(n, previous, rng)
            assert 0.0 <= delay <= backoff.cap_s
            previous = delay

    def test_is_reproducible_from_the_seed(self) -> None:
        def run(seed: int) -> list[float]:
            rng, previous, out = random.Random(seed), 0.005, []
            backoff = self.cls(0.005, 2.0)
            for n in range(1, 20):
                previous = backoff.delay_s(n, previous, rng)
                out.append(previous)
            return out

        assert run(7) == run(7)

    def test_is_registered_by_name(self) -> None:
        assert type(backoff_named(self.cls.name, 0.1, 1.0)) is self.cls

    @pytest.mark.parametrize(("base", "cap"), [(-0.1, 1.0), (0.1, -1.0), (2.0, 1.0),
                                               (math.nan, 1.0), (0.1, math.inf)])
    def test_refuses_bad_base_and_cap(self, base: float, cap: float) -> None:
        with pytest.raises(ResilienceConfigError):
            self.cls(base, cap)


class TestNoBackoff(BackoffContract):
    cls = NoBackoff

    def test_never_waits(self) -> None:
        assert NoBackoff(1.0, 2.0).delay_s(5, 1.0, random.Random(0)) == 0.0


class TestExponentialBackoff(BackoffContract):
    cls = ExponentialBackoff

    def test_doubles_from_twice_the_base_up_to_the_cap(self) -> None:
        backoff = ExponentialBackoff(0.005, 0.1)
        delays = [backoff.delay_s(n, 0.0, random.Random(0)) for n in range(1, 7)]
        assert delays == [0.01, 0.02, 0.04, 0.08, 0.1, 0.1]

    def test_huge_attempt_numbers_stay_finite(self) -> None:
        assert ExponentialBackoff(0.5, 30.0).delay_s(10**6, 0.0, random.Random(0)) == 30.0


class TestEqualJitterBackoff(BackoffContract):
    cls = EqualJitterBackoff

    @settings(max_examples=60)
    @given(failures=attempts, seed=st.integers(0, 2**32))
    def test_never_below_half_the_ceiling(self, failures: int, seed: int) -> None:
        backoff = EqualJitterBackoff(0.01, 5.0)
        ceiling = backoff.ceiling_s(failures)
        assert ceiling / 2 <= backoff.delay_s(failures, 0.0, random.Random(seed)) <= ceiling


class TestFullJitterBackoff(BackoffContract):
    cls = FullJitterBackoff

    def test_spreads_over_the_whole_range(self) -> None:
        backoff, rng = FullJitterBackoff(0.1, 10.0), random.Random(3)
        delays = [backoff.delay_s(3, 0.0, rng) for _ in range(2_000)]
        assert max(delays) <= 0.8
        assert min(delays) < 0.08      # reaches the bottom tenth ...
        assert max(delays) > 0.72      # ... and the top tenth
        assert abs(sum(delays) / len(delays) - 0.4) < 0.03  # mean of U(0, 0.8)


class TestDecorrelatedJitterBackoff(BackoffContract):
    cls = DecorrelatedJitterBackoff

    @settings(max_examples=60)
    @given(previous=st.floats(0.0, 100.0), seed=st.integers(0, 2**32))
    def test_between_base_and_three_times_previous(self, previous: float, seed: int) -> None:
        backoff = DecorrelatedJitterBackoff(0.05, 10.0)
        delay = backoff.delay_s(1, previous, random.Random(seed))
        assert 0.05 <= delay <= min(10.0, max(0.05, 3 * previous))


def test_all_five_aws_strategies_exist() -> None:
    assert set(BACKOFFS) == {"none", "exponential", "equal_jitter", "full_jitter",
                             "decorrelated_jitter"}


def test_unknown_backoff_name_lists_the_choices() -> None:
    with pytest.raises(ResilienceConfigError, match="full_jitter"):
        backoff_named("fibonacci", 0.1, 1.0)


# -- policy --------------------------------------------------------------------------------

def test_policy_gives_delays_until_attempts_are_spent() -> None:
    policy = RetryPolicy(ExponentialBackoff(0.1, 10.0), max_attempts=3)
    rng = random.Random(0)
    assert [policy.next_delay_s(n, 0.1, rng) for n in (1, 2, 3)] == [0.2, 0.4, None]


def test_single_attempt_policy_never_retries() -> None:
    assert RetryPolicy(NoBackoff(), max_attempts=1).next_delay_s(1, 0.0, random.Random()) is None


@pytest.mark.parametrize("attempts_max", [0, -1, 101, True])
def test_policy_refuses_bad_attempt_counts(attempts_max: int) -> None:
    with pytest.raises(ResilienceConfigError, match="max_attempts"):
        RetryPolicy(NoBackoff(), max_attempts=attempts_max)


# -- budget --------------------------------------------------------------------------------

def test_budget_grants_the_share_of_requests_at_one_instant() -> None:
    budget = RetryBudget(ratio=0.2, window_s=10.0, min_retries_per_s=0.0)
    for _ in range(50):
        budget.record_request(1.0)
    granted = sum(budget.try_retry(1.0) for _ in range(100))
    assert granted == 10
    assert budget.statistics().retries_denied_total == 90


def test_budget_floor_lets_a_quiet_client_retry() -> None:
    budget = RetryBudget(ratio=0.2, window_s=10.0, min_retries_per_s=0.5)
    assert sum(budget.try_retry(0.0) for _ in range(10)) == 5


def test_budget_refills_as_the_window_slides() -> None:
    budget = RetryBudget(ratio=0.5, window_s=10.0, min_retries_per_s=0.0, buckets=10)
    for _ in range(4):
        budget.record_request(0.0)
    assert [budget.try_retry(0.0) for _ in range(3)] == [True, True, False]
    assert budget.statistics(10.0).requests == 0   # the whole window has passed
    budget.record_request(10.0)
    budget.record_request(10.0)
    assert [budget.try_retry(10.5) for _ in range(2)] == [True, False]


@settings(max_examples=60, deadline=None)
@given(ratio=st.sampled_from([0.1, 0.2, 0.5, 1.0]), floor=st.sampled_from([0.0, 1.0]),
       events=st.lists(st.tuples(st.floats(0.0, 3.0), st.booleans()), max_size=300))
def test_budget_never_grants_more_than_its_share_over_a_window(
        ratio: float, floor: float, events: list[tuple[float, bool]]) -> None:
    """At every grant, retries in the window <= ratio x requests + floor x window."""
    window_s, buckets = 5.0, 5
    bucket_s = window_s / buckets
    budget = RetryBudget(ratio=ratio, window_s=window_s, min_retries_per_s=floor,
                         buckets=buckets)
    now = 0.0
    log: list[tuple[float, str]] = []
    for dt, is_retry in events:
        now += dt
        if not is_retry:
            budget.record_request(now)
            log.append((now, "request"))
        elif budget.try_retry(now):
            log.append((now, "retry"))
            first = (math.floor(now / bucket_s) - buckets + 1) * bucket_s
            inside = [kind for t, kind in log if t >= first]
            assert inside.count("retry") <= ratio * inside.count("request") + floor * window_s


@pytest.mark.parametrize("kwargs", [{"ratio": -0.1}, {"ratio": 11.0}, {"window_s": 0.0},
                                    {"window_s": -1.0}, {"min_retries_per_s": -1.0},
                                    {"buckets": 0}])
def test_budget_refuses_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ResilienceConfigError, match=next(iter(kwargs))):
        RetryBudget(**kwargs)  # type: ignore[arg-type]
