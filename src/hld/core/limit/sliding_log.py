"""Sliding window log: at most ``limit`` units within any ``window_s`` seconds, exactly.

The log keeps the time of every admitted unit still inside the window, oldest first, in a
deque; a unit admitted at ``t`` stops counting at ``t + window_s``. Memory per key is at
most ``limit`` floats, which is why ``limit`` is bounded (``LIMIT_MAX``). Exact, and the
costliest in memory; the sliding counter approximates it in two integers.
"""

# Hot paths clamp with an if rather than min()/max(): a branch costs less than a call.
# ruff: noqa: PLR1730

from __future__ import annotations

from collections import deque
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


class SlidingLog:
    """Sliding window log rate limiter."""

    __slots__ = ("_log", "burst_max", "limit", "rate_per_s", "window_s")
    name = "sliding_log"

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = check_count("limit", limit)
        self.window_s = check_period("window_s", window_s)
        self.rate_per_s = self.limit / self.window_s
        self.burst_max = self.limit
        self._log: deque[float] = deque()

    def fresh(self) -> Self:
        new = object.__new__(type(self))
        new.limit = new.burst_max = self.limit
        new.window_s = self.window_s
        new.rate_per_s = self.rate_per_s
        new._log = deque()
        return new

    @property
    def horizon_s(self) -> float:
        return self.window_s

    def reset_at(self) -> float:
        return self._log[-1] + self.window_s if self._log else -INF

    def __len__(self) -> int:
        """Units currently held in the log (including ones that may have expired)."""
        return len(self._log)

    def allow(self, now: float, cost: int = 1) -> Decision:
        if not 0 <= cost <= COST_MAX:
            raise bad_cost(cost)
        log = self._log
        window = self.window_s
        limit = self.limit
        if log:
            if now < log[-1]:
                now = log[-1]  # the clock stepped back: keep the log sorted
            cutoff = now - window
            while log and log[0] <= cutoff:
                log.popleft()
        held = len(log)
        if held + cost <= limit:
            if cost == 1:
                log.append(now)
            elif cost:
                log.extend([now] * cost)
            held += cost
            return _new_decision(Decision, (True, limit, limit - held, 0.0,
                                            log[-1] + window - now if log else 0.0))
        # The (held + cost - limit)-th oldest unit must leave before this one fits.
        retry = INF if cost > limit else log[held + cost - limit - 1] + window - now
        return _new_decision(Decision, (False, limit, limit - held, retry,
                                        log[-1] + window - now if log else 0.0))

    def __repr__(self) -> str:
        return f"SlidingLog(limit={self.limit}, window_s={self.window_s})"
