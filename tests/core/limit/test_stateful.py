"""Token bucket and GCRA against an exact reference model (hypothesis state machines).

The reference is a token bucket in exact rational arithmetic: the tokens refill at
``rate`` up to ``burst`` and a request passes if ``cost`` tokens are there. GCRA admits
exactly the same sequences, so both are checked against the same model. Rates are tenths
and times whole milliseconds, so exact values sit either on a boundary or at least 1e-4
away from it, where the implementations' float slack cannot blur the answer.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hld.core.limit import GCRA, Limiter, TokenBucket


class ExactBucket:
    """Reference: a token bucket in fractions."""

    def __init__(self, rate: Fraction, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = Fraction(burst)
        self.last: Fraction | None = None

    def allow(self, now: Fraction, cost: int) -> tuple[bool, int, Fraction, Fraction]:
        if self.last is None or now > self.last:
            if self.last is not None:
                self.tokens = min(Fraction(self.burst), self.tokens + (now - self.last) * self.rate)
            self.last = now
        if self.tokens >= cost:
            self.tokens -= cost
            return True, int(self.tokens), Fraction(0), (self.burst - self.tokens) / self.rate
        return False, int(self.tokens), (cost - self.tokens) / self.rate, \
            (self.burst - self.tokens) / self.rate


class BucketMachine(RuleBasedStateMachine):
    build: type[Limiter]

    @initialize(rate_tenths=st.integers(min_value=1, max_value=200),
                burst=st.integers(min_value=1, max_value=10))
    def setup(self, rate_tenths: int, burst: int) -> None:
        self.now_ms = 0
        self.model = ExactBucket(Fraction(rate_tenths, 10), burst)
        self.limiter = self.build(rate_tenths / 10, burst)  # type: ignore[call-arg]

    @rule(step_ms=st.integers(min_value=0, max_value=3000))
    def wait(self, step_ms: int) -> None:
        self.now_ms += step_ms

    @precondition(lambda self: hasattr(self, "model"))
    @rule(cost=st.integers(min_value=0, max_value=12))
    def request(self, cost: int) -> None:
        now = Fraction(self.now_ms, 1000)
        allowed, remaining, retry_s, reset_s = self.model.allow(now, cost)
        actual = self.limiter.allow(self.now_ms / 1000, cost)
        assert (allowed, remaining) == (actual.allowed, actual.remaining)
        if cost <= self.model.burst:
            assert abs(float(retry_s) - actual.retry_after_s) < 1e-6
        assert abs(float(reset_s) - actual.reset_after_s) < 1e-6

    @invariant()
    def limit_is_the_burst(self) -> None:
        if hasattr(self, "model"):
            assert self.limiter.limit == self.model.burst


class TokenBucketMachine(BucketMachine):
    build = TokenBucket


class GCRAMachine(BucketMachine):
    build = GCRA


TestTokenBucketAgainstModel = TokenBucketMachine.TestCase
TestTokenBucketAgainstModel.settings = settings(max_examples=40, stateful_step_count=30,
                                                deadline=None)
TestGCRAAgainstModel = GCRAMachine.TestCase
TestGCRAAgainstModel.settings = settings(max_examples=40, stateful_step_count=30,
                                         deadline=None)
