"""What every rate limiter answers, the bounds it keeps, and how its tunables are checked.

A limiter is a small state machine fed with ``now`` (float seconds from a monotonic clock
the caller owns) and a ``cost``; ``allow(now, cost)`` both decides and records. Every
decision carries the four numbers an HTTP layer turns into headers: the limit, what is
left, how long to wait before a retry can pass, and how long until the limiter is back
to its fresh state (at which point a keyed limiter may forget the key losslessly).

``Decision`` is a ``NamedTuple`` rather than a frozen dataclass because building one is
the largest single cost of a decision: on the project machine a frozen slotted dataclass
took 2.2 us to construct, a NamedTuple built with ``tuple.__new__`` 0.32 us. It is just as
immutable and reads by attribute the same way.

Conventions shared by every algorithm:

* ``cost`` is a non-negative number of units; ``cost=0`` peeks (always allowed, no state
  change). A cost larger than the limit can never pass: it is denied with
  ``retry_after_s = inf``.
* ``retry_after_s`` is 0.0 when allowed; when denied it is the wait after which the same
  request would pass if nothing else arrived.
* Time never runs backwards inside a limiter: an earlier ``now`` than one already seen is
  treated as the latest seen.
* ``rate_per_s`` and ``burst_max`` state the guarantee the tests check: over any span of
  ``w`` seconds a limiter admits at most ``rate_per_s * w + burst_max`` units.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol, Self, runtime_checkable

# -- limits and tolerances of the family, in one place -------------------------------------

#: Float slack when comparing tokens or times: sums of 1/rate drift by a few ulps, and
#: without slack a request that fits exactly (the 10th of a burst of 10) could be refused.
#: One nanosecond (or a billionth of a token) is far below any meaningful rate.
EPSILON = 1e-9
#: Default bound on the number of keys a keyed limiter tracks (memory is O(keys)).
KEYS_MAX_DEFAULT = 100_000
#: Most idle keys a keyed limiter drops in one opportunistic sweep, so no single decision
#: pays for a large clean-up; the LRU bound still holds between sweeps.
SWEEP_KEYS_MAX = 64
# ... and sweeps come at most this often: with a tiny horizon (a huge rate) a sweep per
# call would cost more than it saves, and expiry is lossless, so waiting changes nothing.
SWEEP_INTERVAL_S_MIN = 0.1
#: Largest cost one request may carry; sliding logs hold one entry per unit.
COST_MAX = 1_000_000
#: Largest per-window limit of the counting algorithms (bounds a sliding log's memory).
LIMIT_MAX = 10_000_000

INF = math.inf


class Decision(NamedTuple):
    """The outcome of one ``allow``: admitted or not, and the numbers behind it."""

    allowed: bool
    limit: int
    remaining: int
    retry_after_s: float
    reset_after_s: float


# Building through tuple.__new__ skips the generated __new__'s argument handling; it is
# what every hot path uses: ``_new_decision(Decision, (allowed, ...))``.
_new_decision = tuple.__new__


def decision(allowed: bool, limit: int, remaining: int, retry_after_s: float,
             reset_after_s: float) -> Decision:
    return _new_decision(Decision, (allowed, limit, remaining, retry_after_s, reset_after_s))


@runtime_checkable
class Limiter(Protocol):
    """A single-key rate limiter."""

    name: str
    limit: int
    rate_per_s: float
    burst_max: int

    def allow(self, now: float, cost: int = 1) -> Decision:
        """Decide whether ``cost`` units pass at ``now`` and record them if so."""
        ...

    def fresh(self) -> Self:
        """A new limiter with the same configuration and a fresh state."""
        ...

    def reset_at(self) -> float:
        """The time from which this limiter's state equals a fresh one (-inf if already)."""
        ...

    @property
    def horizon_s(self) -> float:
        """The longest a decision can keep the limiter away from its fresh state."""
        ...


class KeyedLimiterProtocol(Protocol):
    def allow(self, key: str, now: float, cost: int = 1) -> Decision: ...


# -- input checks: at the boundary, naming the parameter ----------------------------------

def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    return float(value)


def check_rate(name: str, value: object) -> float:
    """A positive, finite rate (units per second)."""
    number = _number(name, value)
    if math.isnan(number) or math.isinf(number) or number <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return number


def check_period(name: str, value: object) -> float:
    """A positive, finite duration in seconds."""
    number = _number(name, value)
    if math.isnan(number) or math.isinf(number) or number <= 0:
        raise ValueError(f"{name} must be a positive finite number of seconds, got {value!r}")
    return number


def check_count(name: str, value: object, minimum: int = 1, maximum: int = LIMIT_MAX) -> int:
    """A whole number in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    if value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}")
    return value


def bad_cost(cost: object) -> ValueError:
    """The error for a cost that is negative, NaN or too large (raised by ``allow``)."""
    return ValueError(f"cost must be a number of units in [0, {COST_MAX}], got {cost!r}")
