"""Sliding window counter: the previous window's count, weighted by its overlap, plus now's.

Two aligned fixed windows approximate a sliding one: at a fraction ``f`` into the current
window, the estimate is ``previous * (1 - f) + current``, assuming the previous window's
requests were spread evenly. Two integers of state, like a fixed window, but the boundary
burst is gone: ``burst_max = limit``. The estimate is an approximation (requests bunched at
the end of the previous window are under-weighted), which the lab measures.
"""

# Hot paths clamp with an if rather than min()/max(): a branch costs less than a call.
# ruff: noqa: PLR1730

from __future__ import annotations

from math import floor
from typing import Self

from hld.core.limit.base import (
    COST_MAX,
    EPSILON,
    INF,
    Decision,
    _new_decision,
    bad_cost,
    check_count,
    check_period,
)


class SlidingCounter:
    """Sliding window counter rate limiter."""

    __slots__ = ("_current", "_index", "_previous", "burst_max", "limit", "rate_per_s",
                 "window_s")
    name = "sliding_counter"

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = check_count("limit", limit)
        self.window_s = check_period("window_s", window_s)
        self.rate_per_s = self.limit / self.window_s
        self.burst_max = self.limit
        self._index = -INF
        self._previous = 0
        self._current = 0

    def fresh(self) -> Self:
        new = object.__new__(type(self))
        new.limit = new.burst_max = self.limit
        new.window_s = self.window_s
        new.rate_per_s = self.rate_per_s
        new._index = -INF
        new._previous = new._current = 0
        return new

    @property
    def horizon_s(self) -> float:
        return 2.0 * self.window_s

    def reset_at(self) -> float:
        if self._current:
            return (self._index + 2.0) * self.window_s
        if self._previous:
            return (self._index + 1.0) * self.window_s
        return -INF

    def allow(self, now: float, cost: int = 1) -> Decision:
        if not 0 <= cost <= COST_MAX:
            raise bad_cost(cost)
        window = self.window_s
        limit = self.limit
        # floor(now / window), not now // window: the Redis scripts compute the same
        # expression in Lua, and the two differ in the last ulp (1.0 // 0.1 == 9.0).
        index: float = floor(now / window)
        if index > self._index:
            self._previous = self._current if index == self._index + 1.0 else 0
            self._current = 0
            self._index = index
        else:
            index = self._index  # same window, or the clock stepped back: stay in it
        previous = self._previous
        current = self._current
        elapsed = now - index * window
        if elapsed < 0.0:
            elapsed = 0.0
        estimate = previous * (1.0 - elapsed / window) + current
        if estimate + cost <= limit + EPSILON:
            current += cost
            self._current = current
            left = limit - estimate - cost
            return _new_decision(Decision, (
                True, limit, int(left + EPSILON) if left > 0.0 else 0, 0.0,
                (index + 2.0) * window - now if current else
                ((index + 1.0) * window - now if previous else 0.0)))
        left = limit - estimate
        if cost > limit:
            retry = INF
        else:
            retry = -1.0
            if current + cost <= limit:
                # Within this window, the previous one's weight decays far enough.
                retry = window * (1.0 - (limit - current - cost) / previous) - elapsed
            if retry < 0.0 or elapsed + retry >= window:
                # In the next window the current count becomes the decaying previous one.
                wait_next = 0.0
                if current + cost > limit:
                    wait_next = window * (1.0 - (limit - cost) / current)
                retry = window - elapsed + wait_next
        return _new_decision(Decision, (
            False, limit, int(left + EPSILON) if left > 0.0 else 0, retry,
            (index + 2.0) * window - now if current else
            ((index + 1.0) * window - now if previous else 0.0)))

    def __repr__(self) -> str:
        return f"SlidingCounter(limit={self.limit}, window_s={self.window_s})"
