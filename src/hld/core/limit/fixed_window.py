"""Fixed window counter: at most ``limit`` units per aligned window of ``window_s``.

Windows are aligned on multiples of ``window_s`` (``floor(now / window_s)``), so every
key shares the same edges. One counter and one window index are the whole state. The
known weakness, measured by ``hld lab limiters``: a client sending at the end of one
window and again at the start of the next gets up to twice the limit within one window's
span, hence ``burst_max = 2 * limit``.
"""

from __future__ import annotations

from math import floor
from typing import Self

from hld.core.limit.base import (
    COST_MAX,
    INF,
    Decision,
    _new_decision,
    bad_cost,
    check_count,
    check_period,
)


class FixedWindow:
    """Fixed window counter rate limiter."""

    __slots__ = ("_count", "_index", "burst_max", "limit", "rate_per_s", "window_s")
    name = "fixed_window"

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = check_count("limit", limit)
        self.window_s = check_period("window_s", window_s)
        self.rate_per_s = self.limit / self.window_s
        self.burst_max = 2 * self.limit
        self._index = -INF
        self._count = 0

    def fresh(self) -> Self:
        new = object.__new__(type(self))
        new.limit = self.limit
        new.window_s = self.window_s
        new.rate_per_s = self.rate_per_s
        new.burst_max = self.burst_max
        new._index = -INF
        new._count = 0
        return new

    @property
    def horizon_s(self) -> float:
        return self.window_s

    def reset_at(self) -> float:
        if self._count == 0:
            return -INF
        return (self._index + 1.0) * self.window_s

    def allow(self, now: float, cost: int = 1) -> Decision:
        if not 0 <= cost <= COST_MAX:
            raise bad_cost(cost)
        window = self.window_s
        # floor(now / window), not now // window: the Redis scripts compute the same
        # expression in Lua, and the two differ in the last ulp (1.0 // 0.1 == 9.0).
        index: float = floor(now / window)
        if index > self._index:
            self._index = index
            self._count = 0
        else:
            index = self._index  # same window, or the clock stepped back: stay in it
        count = self._count
        limit = self.limit
        end_in = (index + 1.0) * window - now
        if count + cost <= limit:
            count += cost
            self._count = count
            return _new_decision(Decision, (True, limit, limit - count, 0.0,
                                            end_in if count else 0.0))
        return _new_decision(Decision, (False, limit, limit - count,
                                        end_in if cost <= limit else INF, end_in))

    def __repr__(self) -> str:
        return f"FixedWindow(limit={self.limit}, window_s={self.window_s})"
