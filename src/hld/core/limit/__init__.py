"""Rate limiting: six algorithms behind one ``allow(now, cost) -> Decision`` interface.

``make(name, rate_per_s=..., burst=...)`` builds any algorithm from a rate and a burst,
which is how the lab compares them on equal terms: the bucket algorithms take them as is;
the window algorithms get ``limit = burst`` per ``window_s = burst / rate_per_s``.
``KeyedLimiter`` holds one limiter per key with bounded memory; ``cl_throttle`` is
redis-cell's CL.THROTTLE for the store.
"""

from __future__ import annotations

from collections.abc import Callable

from hld.core.limit.base import Decision, Limiter, check_count, check_rate
from hld.core.limit.fixed_window import FixedWindow
from hld.core.limit.gcra import GCRA, Throttle, cl_throttle
from hld.core.limit.keyed import KeyedLimiter, KeyedStatistics
from hld.core.limit.leaky_bucket import LeakyMeter, LeakyQueue, Queued
from hld.core.limit.sliding_counter import SlidingCounter
from hld.core.limit.sliding_log import SlidingLog
from hld.core.limit.token_bucket import TokenBucket


def _windowed(cls: Callable[[int, float], Limiter]) -> Callable[[float, int], Limiter]:
    def build(rate_per_s: float, burst: int) -> Limiter:
        return cls(burst, burst / rate_per_s)
    return build


_registry: dict[str, Callable[[float, int], Limiter]] = {
    "token_bucket": TokenBucket,
    "leaky_meter": LeakyMeter,
    "leaky_queue": LeakyQueue,
    "fixed_window": _windowed(FixedWindow),
    "sliding_log": _windowed(SlidingLog),
    "sliding_counter": _windowed(SlidingCounter),
    "gcra": GCRA,
}

ALGORITHMS: tuple[str, ...] = tuple(_registry)


def make(name: str, rate_per_s: float, burst: int) -> Limiter:
    """Build algorithm ``name`` admitting ``rate_per_s`` on average and ``burst`` at once."""
    try:
        factory = _registry[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown rate limiter {name!r}; known: {', '.join(ALGORITHMS)}") from None
    check_rate("rate_per_s", rate_per_s)
    check_count("burst", burst)
    return factory(rate_per_s, burst)


__all__ = [
    "ALGORITHMS", "GCRA", "Decision", "FixedWindow", "KeyedLimiter", "KeyedStatistics",
    "LeakyMeter", "LeakyQueue", "Limiter", "Queued", "SlidingCounter", "SlidingLog",
    "Throttle", "TokenBucket", "cl_throttle", "make",
]
