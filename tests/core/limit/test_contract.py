"""The contract every rate limiter passes, whatever its algorithm.

Each algorithm is built from a rate and a burst through ``hld.core.limit.make`` (window
algorithms get ``limit = burst`` per ``burst / rate`` seconds) and must report allowed,
remaining, retry_after and reset_after consistently.
"""

from __future__ import annotations

import math

import pytest

from hld.core.limit import ALGORITHMS, Decision, KeyedLimiter, Limiter, make

RATE_PER_S = 10.0
BURST = 5
SLACK_S = 1e-9


class LimiterContract:
    """Mixed into one test class per algorithm; ``algorithm`` names it."""

    algorithm: str
    #: Share of the configured rate a steady overload must get through at least.
    steady_share_min = 1.0

    def make(self, rate_per_s: float = RATE_PER_S, burst: int = BURST) -> Limiter:
        return make(self.algorithm, rate_per_s, burst)

    def test_is_a_limiter(self) -> None:
        limiter = self.make()
        assert isinstance(limiter, Limiter)
        assert limiter.name == self.algorithm

    def test_fresh_limiter_admits_a_whole_burst_at_once_then_refuses(self) -> None:
        limiter = self.make()
        allowed = [limiter.allow(1.0).allowed for _ in range(BURST + 3)]
        assert allowed == [True] * BURST + [False] * 3

    def test_every_decision_reports_the_configured_limit(self) -> None:
        limiter = self.make()
        limits = {limiter.allow(1.0 + i / 100).limit for i in range(20)}
        assert limits == {BURST}

    def test_remaining_counts_down_by_the_cost(self) -> None:
        limiter = self.make()
        remaining = [limiter.allow(1.0).remaining for _ in range(BURST)]
        assert remaining == list(range(BURST - 1, -1, -1))

    def test_remaining_is_exactly_how_many_more_pass_now(self) -> None:
        limiter = self.make()
        first = limiter.allow(2.0, 2)
        extra = 0
        while limiter.allow(2.0).allowed:
            extra += 1
        assert first.remaining == extra

    def test_allowed_decisions_say_retry_after_zero(self) -> None:
        limiter = self.make()
        assert limiter.allow(1.0).retry_after_s == 0.0

    def test_denied_request_passes_after_retry_after(self) -> None:
        limiter = self.make()
        for _ in range(BURST):
            limiter.allow(1.0)
        denied = limiter.allow(1.0)
        assert not denied.allowed
        assert denied.retry_after_s > 0.0
        assert denied.remaining == 0
        assert limiter.allow(1.0 + denied.retry_after_s + SLACK_S).allowed

    def test_denied_request_does_not_pass_well_before_retry_after(self) -> None:
        limiter = self.make()
        for _ in range(BURST):
            limiter.allow(1.0)
        denied = limiter.allow(1.0)
        assert not limiter.allow(1.0 + denied.retry_after_s * 0.5).allowed

    def test_after_reset_after_the_limiter_is_fresh_again(self) -> None:
        limiter = self.make()
        last = None
        for i in range(BURST + 2):
            last = limiter.allow(1.0 + i * 0.01)
        assert last is not None
        assert last.reset_after_s > 0.0
        later = 1.0 + (BURST + 1) * 0.01 + last.reset_after_s + SLACK_S
        peek = limiter.allow(later, 0)
        assert (peek.allowed, peek.remaining) == (True, BURST)
        assert limiter.reset_at() <= later

    def test_reset_after_is_zero_only_when_fresh(self) -> None:
        limiter = self.make()
        assert limiter.allow(1.0, 0).reset_after_s == 0.0
        assert limiter.allow(1.0).reset_after_s > 0.0

    def test_cost_zero_peeks_without_changing_state(self) -> None:
        limiter = self.make()
        limiter.allow(1.0, 2)
        before = limiter.allow(1.0, 0)
        again = limiter.allow(1.0, 0)
        assert before == again
        assert before.remaining == BURST - 2

    def test_cost_above_one_takes_that_many_units(self) -> None:
        limiter = self.make()
        assert limiter.allow(1.0, BURST - 1).allowed
        assert not limiter.allow(1.0, 2).allowed
        assert limiter.allow(1.0, 1).allowed

    def test_cost_larger_than_the_limit_never_passes(self) -> None:
        limiter = self.make()
        verdict = limiter.allow(1.0, BURST + 1)
        assert not verdict.allowed
        assert verdict.retry_after_s == math.inf
        assert limiter.allow(1.0, BURST).allowed  # and it consumed nothing

    @pytest.mark.parametrize("cost", [-1, math.nan, 10**9])
    def test_bad_cost_is_a_clear_error(self, cost: float) -> None:
        with pytest.raises(ValueError, match="cost"):
            self.make().allow(1.0, cost)  # type: ignore[arg-type]

    def test_a_clock_stepping_back_admits_nothing_extra(self) -> None:
        limiter = self.make()
        admitted = sum(limiter.allow(10.0).allowed for _ in range(BURST + 1))
        admitted += sum(limiter.allow(9.0).allowed for _ in range(BURST + 1))
        assert admitted == BURST

    def test_fresh_copies_configuration_not_state(self) -> None:
        limiter = self.make()
        for _ in range(BURST):
            limiter.allow(1.0)
        clone = limiter.fresh()
        assert clone.allow(1.0).remaining == BURST - 1
        assert not limiter.allow(1.0).allowed
        assert (clone.rate_per_s, clone.limit) == (limiter.rate_per_s, limiter.limit)

    def test_steady_overload_is_held_to_the_configured_rate(self) -> None:
        limiter = self.make()
        duration_s = 20.0
        step_s = 0.01  # 100 requests per second against 10 allowed
        admitted = sum(limiter.allow(i * step_s).allowed for i in range(int(duration_s / step_s)))
        expected_min = self.steady_share_min * RATE_PER_S * duration_s
        assert expected_min <= admitted <= RATE_PER_S * duration_s + limiter.burst_max

    def test_slow_traffic_is_never_refused(self) -> None:
        limiter = self.make()
        refused = [i for i in range(200) if not limiter.allow(i * 0.2).allowed]
        assert refused == []

    def test_repr_names_the_algorithm_configuration(self) -> None:
        assert type(self.make()).__name__ in repr(self.make())


class TestTokenBucket(LimiterContract):
    algorithm = "token_bucket"


class TestLeakyMeter(LimiterContract):
    algorithm = "leaky_meter"


class TestLeakyQueue(LimiterContract):
    algorithm = "leaky_queue"


class TestFixedWindow(LimiterContract):
    algorithm = "fixed_window"


class TestSlidingLog(LimiterContract):
    algorithm = "sliding_log"


class TestSlidingCounter(LimiterContract):
    algorithm = "sliding_counter"
    # Under steady overload the current window fills early while the previous one still
    # weighs in, so the last unit of each window rarely fits: 4 of 5 per window here.
    steady_share_min = 0.8


class TestGCRA(LimiterContract):
    algorithm = "gcra"


class OneKeyOfMany:
    """A keyed limiter seen through one key, among other keys' traffic, as a Limiter."""

    def __init__(self, keyed: KeyedLimiter[str]) -> None:
        self.keyed = keyed
        proto = keyed.prototype
        self.name, self.limit = proto.name, proto.limit
        self.rate_per_s, self.burst_max = proto.rate_per_s, proto.burst_max
        self.horizon_s = proto.horizon_s

    def allow(self, now: float, cost: int = 1) -> Decision:
        self.keyed.allow("noise", now)  # another key's traffic never leaks into ours
        return self.keyed.allow("me", now, cost)

    def fresh(self) -> OneKeyOfMany:
        return OneKeyOfMany(KeyedLimiter(self.keyed.prototype.fresh(), max_keys=4))

    def reset_at(self) -> float:
        limiter = self.keyed.peek("me")
        return limiter.reset_at() if limiter is not None else -math.inf

    def __repr__(self) -> str:
        return f"OneKeyOfMany({self.keyed!r})"


class KeyedContract(LimiterContract):
    def make(self, rate_per_s: float = RATE_PER_S, burst: int = BURST) -> Limiter:
        return OneKeyOfMany(KeyedLimiter(make(self.algorithm, rate_per_s, burst), max_keys=4))

    def test_repr_names_the_algorithm_configuration(self) -> None:
        assert "KeyedLimiter" in repr(self.make())


class TestKeyedGCRA(KeyedContract):
    algorithm = "gcra"


class TestKeyedSlidingLog(KeyedContract):
    algorithm = "sliding_log"


class TestKeyedFixedWindow(KeyedContract):
    algorithm = "fixed_window"


def test_every_algorithm_has_a_contract_class() -> None:
    covered = {cls.algorithm for cls in LimiterContract.__subclasses__()
               if cls is not KeyedContract}
    assert covered == set(ALGORITHMS)
