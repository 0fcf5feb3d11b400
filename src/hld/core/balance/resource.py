"""Resource-based balancing: share traffic by the headroom backends report.

Backends (or an agent beside them) report CPU and memory utilisation as fractions in
[0, 1] through ``report_load``. A backend's load is its scarcest resource,
``max(cpu, memory)``; its share of new requests is proportional to
``weight * max(1 - load, headroom_min)``. The shares are handed out by smooth weighted
round robin over those float weights rather than by "pick the least loaded": reports
arrive seconds apart, and sending everything to whoever looked idlest in the last report
would overload it before the next one (the herd effect). ``headroom_min`` keeps a
saturated backend trickling a few requests so its reports keep meaning something.

Reports older than ``stale_after_s`` are ignored, and a backend without a fresh report
counts as ``unreported_load`` (half loaded by default: neither favoured nor shunned).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from operator import add

from hld.core.balance.base import Backend, Balancer, Pool, Request, WhenAllEjected
from hld.core.balance.health import HealthTracker

DEFAULT_STALE_AFTER_S = 10.0
DEFAULT_UNREPORTED_LOAD = 0.5
# A fully loaded backend still gets this share of its weight: zero would leave it
# with no traffic, so nothing would tell us when it recovers.
DEFAULT_HEADROOM_MIN = 0.02


def _check_fraction(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be a fraction between 0 and 1, got {value!r}")
    return float(value)


class ResourceBased(Balancer):
    """Traffic in proportion to reported headroom (1 - max(cpu, memory)) times weight."""

    name = "resource_based"

    def __init__(self, pool: Pool | Iterable[Backend | str], *,
                 stale_after_s: float = DEFAULT_STALE_AFTER_S,
                 unreported_load: float = DEFAULT_UNREPORTED_LOAD,
                 headroom_min: float = DEFAULT_HEADROOM_MIN,
                 health: HealthTracker | None = None,
                 when_all_ejected: WhenAllEjected = "panic") -> None:
        super().__init__(pool, health=health, when_all_ejected=when_all_ejected)
        if (isinstance(stale_after_s, bool) or not isinstance(stale_after_s, int | float)
                or not stale_after_s > 0):
            raise ValueError(f"stale_after_s must be a number > 0, got {stale_after_s!r}")
        self.stale_after_s = float(stale_after_s)
        self.unreported_load = _check_fraction(unreported_load, "unreported_load")
        self.headroom_min = _check_fraction(headroom_min, "headroom_min")
        if self.headroom_min == 0:
            raise ValueError("headroom_min must be > 0 so a saturated backend still reports")
        self._reports: dict[str, tuple[float, float]] = {}  # name -> (load, at_s)
        self._names: list[str] = []
        self._current: list[float] = []
        self._shares: list[float] = []
        self._shares_total = 0.0
        self._shares_valid_until_s = -math.inf
        self._shares_dirty = True

    def report_load(self, backend: Backend | str, cpu: float, memory: float = 0.0,
                    now: float = 0.0) -> None:
        """Utilisation of ``backend`` measured at ``now``: fractions in [0, 1]."""
        name = backend.name if isinstance(backend, Backend) else backend
        load = max(_check_fraction(cpu, "cpu"), _check_fraction(memory, "memory"))
        if name not in self.pool:
            return  # a report racing a removal; nothing to update
        self._reports[name] = (load, now)
        self._shares_dirty = True

    def load_of(self, name: str, now: float) -> float:
        """The load this balancer assumes for ``name`` at ``now``."""
        report = self._reports.get(name)
        if report is None or now - report[1] > self.stale_after_s:
            return self.unreported_load
        return report[0]

    def _rebuilt(self, candidates: tuple[Backend, ...]) -> None:
        old = dict(zip(self._names, self._current, strict=True))
        self._names = [b.name for b in candidates]
        self._current = [old.get(name, 0.0) for name in self._names]
        members = {b.name for b in self.pool}
        for name in [n for n in self._reports if n not in members]:
            del self._reports[name]
        self._shares_dirty = True

    def _recompute_shares(self, candidates: Sequence[Backend], now: float) -> None:
        floor = self.headroom_min
        self._shares = [b.weight * max(1.0 - self.load_of(b.name, now), floor)
                        for b in candidates]
        # The shares stay right until the oldest fresh report goes stale.
        expiries = [at + self.stale_after_s for name in self._names
                    if (report := self._reports.get(name)) is not None
                    and (at := report[1]) + self.stale_after_s >= now]
        self._shares_valid_until_s = min(expiries, default=math.inf)
        self._shares_total = sum(self._shares)
        self._shares_dirty = False

    def _choose(self, candidates: Sequence[Backend], request: Request,
                now: float) -> Backend:
        if self._shares_dirty or now > self._shares_valid_until_s:
            self._recompute_shares(candidates, now)
        current = self._current
        current[:] = map(add, current, self._shares)
        best = current.index(max(current))
        current[best] -= self._shares_total
        return candidates[best]
