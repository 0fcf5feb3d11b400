"""GCRA, the generic cell rate algorithm, with the semantics of redis-cell's CL.THROTTLE.

GCRA keeps one number per key, the theoretical arrival time (TAT): when the next request
would be due if all admitted ones had been spaced exactly one emission interval
``T = 1 / rate`` apart. A request of ``cost`` units moves the TAT forward by ``cost * T``
and passes if the new TAT is at most ``tau = T * burst`` ahead of now. It is a token
bucket seen from the other side (same admitted sequences) but with a single float of
state, which is what makes it the cheapest algorithm to run and to store remotely.

Two entry points:

* ``GCRA(rate_per_s, burst)``: the float-seconds limiter every algorithm shares
  (``burst`` is the number of units that may pass at once, redis-cell's ``max_burst + 1``).
  Its decisions match CL.THROTTLE's (tested), except that a cost that can never pass
  reports ``retry_after_s = inf`` where the reply says -1.
* ``cl_throttle(...)``: CL.THROTTLE exactly, in integer nanoseconds as redis-cell computes
  it (emission interval truncated to whole nanoseconds, remaining from whole microseconds,
  reply seconds rounded up when a partial millisecond remains). It takes the stored TAT and
  returns the new one with its TTL, so the store can implement the command natively.
"""

# Hot paths clamp with an if rather than min()/max(): a branch costs less than a call.
# ruff: noqa: PLR1730

from __future__ import annotations

from typing import NamedTuple, Self

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


class GCRA:
    """Generic cell rate algorithm (virtual scheduling form)."""

    __slots__ = ("_tat_s", "burst", "burst_max", "emission_s", "limit", "rate_per_s", "tau_s")
    name = "gcra"

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = check_rate("rate_per_s", rate_per_s)
        self.burst = check_count("burst", burst)
        self.limit = self.burst_max = self.burst
        self.emission_s = 1.0 / self.rate_per_s
        self.tau_s = self.emission_s * self.burst
        self._tat_s = -INF

    def fresh(self) -> Self:
        new = object.__new__(type(self))
        new.rate_per_s = self.rate_per_s
        new.burst = new.limit = new.burst_max = self.burst
        new.emission_s = self.emission_s
        new.tau_s = self.tau_s
        new._tat_s = -INF
        return new

    @property
    def horizon_s(self) -> float:
        return self.tau_s

    def reset_at(self) -> float:
        return self._tat_s

    @property
    def tat_s(self) -> float:
        """The theoretical arrival time (-inf before the first admission)."""
        return self._tat_s

    def allow(self, now: float, cost: int = 1) -> Decision:
        if not 0 <= cost <= COST_MAX:
            raise bad_cost(cost)
        tat = self._tat_s
        if tat < now:
            tat = now
        new_tat = tat + cost * self.emission_s
        allow_at = new_tat - self.tau_s
        if now + EPSILON >= allow_at:
            self._tat_s = new_tat
            ttl = new_tat - now
            left = self.burst - ttl * self.rate_per_s
            return _new_decision(Decision, (
                True, self.burst, int(left + EPSILON) if left > 0.0 else 0, 0.0, ttl))
        ttl = tat - now
        left = self.burst - ttl * self.rate_per_s
        return _new_decision(Decision, (
            False, self.burst, int(left + EPSILON) if left > 0.0 else 0,
            allow_at - now if cost <= self.burst else INF, ttl))

    def __repr__(self) -> str:
        return f"GCRA(rate_per_s={self.rate_per_s}, burst={self.burst})"


# -- CL.THROTTLE ----------------------------------------------------------------------------

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
NS_PER_US = 1_000
#: Emission intervals below a microsecond would divide by zero in the remaining count.
EMISSION_NS_MIN = NS_PER_US


class Throttle(NamedTuple):
    """One CL.THROTTLE outcome, in nanoseconds, plus the state to store."""

    limited: bool
    limit: int
    remaining: int
    retry_after_ns: int  # -1 s when allowed, or when quantity can never fit
    reset_after_ns: int
    tat_ns: int  # the TAT to store (unchanged when limited)
    ttl_ns: int  # store it with this TTL; <= 0 means the key may be deleted

    def reply(self) -> list[int]:
        """The five integers CL.THROTTLE replies with."""
        return [1 if self.limited else 0, self.limit, self.remaining,
                _reply_seconds(self.retry_after_ns), _reply_seconds(self.reset_after_ns)]


def _trunc_div(a: int, b: int) -> int:
    """Integer division rounding toward zero, as Rust's integer casts do."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _reply_seconds(ns: int) -> int:
    # Whole seconds toward zero, plus one when a positive partial millisecond remains, so a
    # fast client never retries too early; sub-millisecond remainders are dropped.
    seconds = _trunc_div(ns, NS_PER_S)
    subsec_ms = _trunc_div(ns - seconds * NS_PER_S, NS_PER_MS)
    return seconds + 1 if subsec_ms > 0 else seconds


def emission_interval_ns(count_per_period: int, period_s: int) -> int:
    """redis-cell's rate: period / count computed in float nanoseconds, truncated."""
    return int(float(period_s * NS_PER_S) / float(count_per_period))


def check_throttle_args(max_burst: object, count_per_period: object, period_s: object,
                        quantity: object) -> int:
    """Validate CL.THROTTLE's numbers; return the emission interval in nanoseconds."""
    check_count("max_burst", max_burst, minimum=0, maximum=2**40)
    count = check_count("count_per_period", count_per_period, maximum=2**40)
    period = check_count("period", period_s, maximum=2**32)
    check_count("quantity", quantity, minimum=0, maximum=2**40)
    emission_ns = emission_interval_ns(count, period)
    if emission_ns < EMISSION_NS_MIN:
        raise ValueError(
            f"count_per_period {count} over period {period} s is faster than one per microsecond")
    return emission_ns


def cl_throttle(tat_ns: int | None, now_ns: int, max_burst: int, count_per_period: int,
                period_s: int, *, quantity: int = 1) -> Throttle:
    """CL.THROTTLE key max_burst count_per_period period [quantity], given the key's TAT.

    ``tat_ns`` is the stored TAT (None when the key does not exist). Raises ValueError
    naming the offending argument, which the store turns into an error reply.
    """
    emission_ns = check_throttle_args(max_burst, count_per_period, period_s, quantity)
    limit = max_burst + 1
    tolerance_ns = emission_ns * limit
    increment_ns = emission_ns * quantity
    # A stored TAT in the past is as good as none; the key would have expired with it.
    tat = now_ns if tat_ns is None or tat_ns < now_ns else tat_ns
    new_tat = tat + increment_ns
    diff = now_ns - (new_tat - tolerance_ns)
    if diff < 0:
        limited = True
        retry_ns = -diff if increment_ns <= tolerance_ns else -NS_PER_S
        ttl = tat - now_ns
        stored = tat
    else:
        limited = False
        retry_ns = -NS_PER_S
        ttl = new_tat - now_ns
        stored = new_tat
    slack_ns = tolerance_ns - ttl
    remaining = 0
    if slack_ns > -emission_ns:
        remaining = int(_trunc_div(slack_ns, NS_PER_US) / _trunc_div(emission_ns, NS_PER_US))
    return Throttle(limited, limit, remaining, retry_ns, ttl, stored, ttl)
