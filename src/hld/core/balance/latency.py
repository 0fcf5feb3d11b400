"""Least response time: route to the backend with the lowest expected wait.

Each backend has a round-trip-time estimate kept as an exponentially weighted moving
average over *time* (not over samples), with decay window ``decay_s``: a sample that
arrives ``dt`` after the previous update gets weight ``1 - exp(-dt / decay_s)``. Without
new samples the estimate read at ``now`` relaxes toward zero with the same time constant,
so a backend that was slow once, and has been avoided since, is probed again later
instead of being starved forever (tower's peak-EWMA decays the same way).

Peak-EWMA (Finagle, tower, Linkerd) differs in one rule: a sample above the current
estimate replaces it at once, so the estimate rises on the first slow answer and falls
only gradually. That asymmetry is what makes it quick to leave a degrading backend.

The load of a backend is ``estimate * (in_flight + 1) / weight``: requests already
queued there will be served before the new one. An unmeasured backend is assumed to take
``default_rtt_s`` (1 s, tower's choice: pessimistic, so a new backend is not flooded
before anything is known); its first sample replaces that guess outright rather than
being averaged into it, so warm-up takes one request rather than several decay windows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from hld.core.balance.base import (
    Backend,
    Balancer,
    Pool,
    Request,
    WhenAllEjected,
)
from hld.core.balance.health import HealthTracker

DEFAULT_RTT_S = 1.0
DEFAULT_DECAY_S = 10.0


def check_rtt_settings(default_rtt_s: float, decay_s: float) -> None:
    for value, what in ((default_rtt_s, "default_rtt_s"), (decay_s, "decay_s")):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{what} must be a number, not {type(value).__name__}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{what} must be a finite number > 0, got {value!r}")


class _Estimate:
    __slots__ = ("at_s", "measured", "rtt_s")

    def __init__(self, rtt_s: float, at_s: float) -> None:
        self.rtt_s = rtt_s
        self.at_s = at_s
        self.measured = False


class RttTracker:
    """Per-backend RTT estimates (EWMA or peak-EWMA over time)."""

    __slots__ = ("_estimates", "decay_s", "default_rtt_s", "peak")

    def __init__(self, *, peak: bool, default_rtt_s: float = DEFAULT_RTT_S,
                 decay_s: float = DEFAULT_DECAY_S) -> None:
        check_rtt_settings(default_rtt_s, decay_s)
        self.peak = peak
        self.default_rtt_s = float(default_rtt_s)
        self.decay_s = float(decay_s)
        self._estimates: dict[str, _Estimate] = {}

    def estimate(self, name: str, now: float) -> float:
        """The RTT estimate of ``name`` as seen at ``now`` (seconds)."""
        est = self._estimates.get(name)
        if est is None:
            est = self._estimates[name] = _Estimate(self.default_rtt_s, now)
            return est.rtt_s
        elapsed = now - est.at_s
        if elapsed <= 0:
            return est.rtt_s
        return est.rtt_s * math.exp(-elapsed / self.decay_s)

    def observe(self, name: str, rtt_s: float, now: float) -> None:
        est = self._estimates.get(name)
        if est is None or not est.measured:
            est = self._estimates[name] = _Estimate(rtt_s, now)
            est.measured = True
            return
        elapsed = now - est.at_s
        if self.peak and rtt_s > est.rtt_s * math.exp(-max(elapsed, 0.0) / self.decay_s):
            est.rtt_s = rtt_s
        elif elapsed > 0:
            keep = math.exp(-elapsed / self.decay_s)
            est.rtt_s = est.rtt_s * keep + rtt_s * (1.0 - keep)
        # elapsed <= 0 (same instant, or a clock that went backwards): the estimate
        # already reflects "now"; averaging with weight 0 would be a no-op.
        est.at_s = max(est.at_s, now)

    def forget_except(self, names: Iterable[str]) -> None:
        keep = set(names)
        for name in [n for n in self._estimates if n not in keep]:
            del self._estimates[name]


class LeastResponseTime(Balancer):
    """The backend with the lowest ``rtt_estimate * (in_flight + 1) / weight``."""

    name = "least_response_time"
    _observes = True

    def __init__(self, pool: Pool | Iterable[Backend | str], *, peak: bool = False,
                 default_rtt_s: float = DEFAULT_RTT_S, decay_s: float = DEFAULT_DECAY_S,
                 health: HealthTracker | None = None,
                 when_all_ejected: WhenAllEjected = "panic") -> None:
        super().__init__(pool, health=health, when_all_ejected=when_all_ejected)
        self.rtt = RttTracker(peak=peak, default_rtt_s=default_rtt_s, decay_s=decay_s)
        self.name = "peak_ewma" if peak else "ewma"
        self._next = 0

    def _rebuilt(self, candidates: tuple[Backend, ...]) -> None:
        self.rtt.forget_except(b.name for b in self.pool)

    def _observe(self, name: str, latency_s: float, ok: bool, now: float) -> None:
        self.rtt.observe(name, latency_s, now)

    def _choose(self, candidates: Sequence[Backend], request: Request,
                now: float) -> Backend:
        n = len(candidates)
        start = self._next % n
        self._next = start + 1
        estimate = self.rtt.estimate
        in_flight = self._in_flight
        best = candidates[start]
        best_cost = estimate(best.name, now) * (in_flight.get(best.name, 0) + 1) / best.weight
        for i in range(start + 1, start + n):
            backend = candidates[i % n]
            name = backend.name
            cost = estimate(name, now) * (in_flight.get(name, 0) + 1) / backend.weight
            if cost < best_cost:
                best, best_cost = backend, cost
        return best
