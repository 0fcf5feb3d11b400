"""Leaky bucket, in its two classic readings: a meter that polices, a queue that shapes.

* ``LeakyMeter(rate_per_s, burst)``: a bucket of capacity ``burst`` that leaks at
  ``rate_per_s``; a request pours in ``cost`` units if they fit, or is refused. It admits
  exactly what a token bucket admits (the level is the tokens already spent), and is kept
  because it is the form ATM and traffic-policing texts describe.
* ``LeakyQueue(rate_per_s, capacity)``: a bounded FIFO drained at ``rate_per_s``. A request
  that fits is queued and told its ``delay_s`` (when it leaves the queue) and its
  ``position``; output is smoothed to the rate, never bursty. Only the time the queue empties
  is stored (virtual scheduling), so there is no per-request memory and no timer.
"""

# Hot paths clamp with an if rather than min()/max(): a branch costs less than a call.
# ruff: noqa: PLR1730, FURB136

from __future__ import annotations

import math
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


class LeakyMeter:
    """Leaky bucket as a meter: refuse what overflows."""

    __slots__ = ("_last_s", "_level", "burst", "burst_max", "limit", "rate_per_s")
    name = "leaky_meter"

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = check_rate("rate_per_s", rate_per_s)
        self.burst = check_count("burst", burst)
        self.limit = self.burst_max = self.burst
        self._level = 0.0
        self._last_s = -INF

    def fresh(self) -> Self:
        new = object.__new__(type(self))
        new.rate_per_s = self.rate_per_s
        new.burst = new.limit = new.burst_max = self.burst
        new._level = 0.0
        new._last_s = -INF
        return new

    @property
    def horizon_s(self) -> float:
        return self.burst / self.rate_per_s

    def reset_at(self) -> float:
        if self._level <= 0.0:
            return -INF
        return self._last_s + self._level / self.rate_per_s

    def allow(self, now: float, cost: int = 1) -> Decision:
        if not 0 <= cost <= COST_MAX:
            raise bad_cost(cost)
        rate = self.rate_per_s
        burst = self.burst
        level = self._level
        if now > self._last_s:
            level -= (now - self._last_s) * rate
            if level < 0.0:
                level = 0.0
            self._last_s = now
        if level + cost <= burst + EPSILON:
            level += cost
            if level > burst:
                level = float(burst)
            self._level = level
            return _new_decision(Decision, (True, burst, int(burst - level + EPSILON), 0.0,
                                            level / rate))
        self._level = level
        return _new_decision(Decision, (
            False, burst, int(burst - level + EPSILON),
            (level + cost - burst) / rate if cost <= burst else INF, level / rate))

    def __repr__(self) -> str:
        return f"LeakyMeter(rate_per_s={self.rate_per_s}, burst={self.burst})"


class Queued(NamedTuple):
    """The outcome of ``LeakyQueue.enqueue``: where the request stands in the queue."""

    allowed: bool
    delay_s: float  # how long until it leaves the queue (0.0 when refused)
    position: int  # units ahead of it (-1 when refused)
    decision: Decision


class LeakyQueue:
    """Leaky bucket as a queue: delay what fits, refuse what overflows."""

    __slots__ = ("_free_at_s", "burst_max", "capacity", "limit", "rate_per_s")
    name = "leaky_queue"

    def __init__(self, rate_per_s: float, capacity: int) -> None:
        self.rate_per_s = check_rate("rate_per_s", rate_per_s)
        self.capacity = check_count("capacity", capacity)
        self.limit = self.burst_max = self.capacity
        self._free_at_s = -INF

    def fresh(self) -> Self:
        new = object.__new__(type(self))
        new.rate_per_s = self.rate_per_s
        new.capacity = new.limit = new.burst_max = self.capacity
        new._free_at_s = -INF
        return new

    @property
    def horizon_s(self) -> float:
        return self.capacity / self.rate_per_s

    def reset_at(self) -> float:
        return self._free_at_s

    def backlog(self, now: float) -> float:
        """Units still queued at ``now``."""
        return max(0.0, (self._free_at_s - now) * self.rate_per_s)

    def allow(self, now: float, cost: int = 1) -> Decision:
        if not 0 <= cost <= COST_MAX:
            raise bad_cost(cost)
        rate = self.rate_per_s
        capacity = self.capacity
        free_at = self._free_at_s
        if free_at < now:
            free_at = now
        backlog = (free_at - now) * rate
        if backlog + cost <= capacity + EPSILON:
            free_at += cost / rate
            self._free_at_s = free_at
            left = capacity - backlog - cost
            return _new_decision(Decision, (True, capacity, int(left + EPSILON) if left > 0.0
                                            else 0, 0.0, free_at - now))
        left = capacity - backlog
        return _new_decision(Decision, (
            False, capacity, int(left + EPSILON) if left > 0.0 else 0,
            (backlog + cost - capacity) / rate if cost <= capacity else INF, free_at - now))

    def enqueue(self, now: float, cost: int = 1) -> Queued:
        """Queue ``cost`` units if they fit; say when they leave and how many are ahead."""
        start = self._free_at_s if self._free_at_s > now else now
        ahead = (start - now) * self.rate_per_s
        verdict = self.allow(now, cost)
        if verdict.allowed:
            return Queued(True, start - now, max(0, math.ceil(ahead - EPSILON)), verdict)
        return Queued(False, 0.0, -1, verdict)

    def __repr__(self) -> str:
        return f"LeakyQueue(rate_per_s={self.rate_per_s}, capacity={self.capacity})"
