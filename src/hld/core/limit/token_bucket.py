"""Token bucket: a bucket of ``burst`` tokens refilled continuously at ``rate_per_s``.

A request takes ``cost`` tokens if that many are there. The state is two floats (tokens,
time of the last refill) and the refill is computed lazily from the elapsed time, so there
is no background timer. The bucket starts full: a new client may burst at once.
"""

# Hot paths clamp with an if rather than min()/max(): a branch costs less than a call.
# ruff: noqa: PLR1730

from __future__ import annotations

from typing import Self

from hld.core.limit.base import (
    COST_MAX,
    EPSILON,
    INF,
    Decision,
    _new_decision,
    bad_cost,
    check_count,
    check_rate,
)


class TokenBucket:
    """Token bucket rate limiter."""

    __slots__ = ("_last_s", "_tokens", "burst", "burst_max", "limit", "rate_per_s")
    name = "token_bucket"

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = check_rate("rate_per_s", rate_per_s)
        self.burst = check_count("burst", burst)
        self.limit = self.burst
        self.burst_max = self.burst
        self._tokens = float(self.burst)
        self._last_s = -INF

    def fresh(self) -> Self:
        new = object.__new__(type(self))
        new.rate_per_s = self.rate_per_s
        new.burst = new.limit = new.burst_max = self.burst
        new._tokens = float(self.burst)
        new._last_s = -INF
        return new

    @property
    def horizon_s(self) -> float:
        return self.burst / self.rate_per_s

    def reset_at(self) -> float:
        if self._last_s == -INF:
            return -INF
        return self._last_s + (self.burst - self._tokens) / self.rate_per_s

    @property
    def tokens(self) -> float:
        """Tokens held at the last decision (before any refill since)."""
        return self._tokens

    def allow(self, now: float, cost: int = 1) -> Decision:
        if not 0 <= cost <= COST_MAX:
            raise bad_cost(cost)
        rate = self.rate_per_s
        burst = self.burst
        tokens = self._tokens
        if now > self._last_s:
            tokens += (now - self._last_s) * rate
            if tokens > burst:
                tokens = burst
            self._last_s = now
        if tokens + EPSILON >= cost:
            tokens -= cost
            if tokens < 0.0:
                tokens = 0.0
            self._tokens = tokens
            return _new_decision(Decision, (True, burst, int(tokens + EPSILON), 0.0,
                                            (burst - tokens) / rate))
        self._tokens = tokens
        return _new_decision(Decision, (
            False, burst, int(tokens + EPSILON),
            (cost - tokens) / rate if cost <= burst else INF, (burst - tokens) / rate))

    def __repr__(self) -> str:
        return f"TokenBucket(rate_per_s={self.rate_per_s}, burst={self.burst})"
