"""Backend health: passive outlier detection plus the verdicts of active checks.

Passive detection follows Envoy's consecutive-errors detector. Every finished request is
recorded as a success (resets the run) or a failure; ``consecutive_failures`` failures in
a row eject the backend for ``base_ejection_time_s`` times the number of times it has been
ejected, capped at ``max_ejection_time_s``. While a backend stays in service the multiplier
decays by one every ``decay_interval_s``, so an old incident stops lengthening new
ejections. At most ``max_ejection_percent`` of the pool is ejected at once (at least one
host, as Envoy does, so small pools can still shed a broken member): a detector must not
be able to take the whole service down on its own. When the pool shrinks, the ejections
that end soonest are cut short so the share stays within the cap.

Active checks are the runtime's business; their verdicts arrive through
``report_health``. An unhealthy verdict removes the backend from rotation until a healthy
one arrives, independent of the ejection cap (the checker saw it down). A healthy verdict
also ends a passive ejection early unless ``uneject_on_active_success`` is off.

Readmission is lazy: time only moves when a caller passes ``now``. ``next_readmission_s``
tells the balancer (or the runtime's timer) when the next ejection ends, so the common
case is one float comparison. ``version`` changes whenever availability changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hld.core.balance.limits import CONSECUTIVE_FAILURES_MAX, EJECTION_TIME_S_MAX


def _check_positive(value: object, what: str, *, upper: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or not 0 < value <= upper:
        raise ValueError(f"{what} must be a finite number in (0, {upper}], got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class OutlierDetection:
    """Passive outlier detection settings; the defaults are Envoy's."""

    consecutive_failures: int = 5
    base_ejection_time_s: float = 30.0
    max_ejection_time_s: float = 300.0
    max_ejection_percent: float = 10.0
    decay_interval_s: float = 10.0
    uneject_on_active_success: bool = True

    def __post_init__(self) -> None:
        n = self.consecutive_failures
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError("consecutive_failures must be an int")
        if not 1 <= n <= CONSECUTIVE_FAILURES_MAX:
            raise ValueError(f"consecutive_failures must be between 1 and "
                             f"{CONSECUTIVE_FAILURES_MAX}, got {n}")
        _check_positive(self.base_ejection_time_s, "base_ejection_time_s",
                        upper=EJECTION_TIME_S_MAX)
        _check_positive(self.max_ejection_time_s, "max_ejection_time_s",
                        upper=EJECTION_TIME_S_MAX)
        if self.max_ejection_time_s < self.base_ejection_time_s:
            raise ValueError("max_ejection_time_s must be >= base_ejection_time_s")
        pct = self.max_ejection_percent
        if isinstance(pct, bool) or not isinstance(pct, int | float) or not 0 <= pct <= 100:
            raise ValueError(f"max_ejection_percent must be between 0 and 100, got {pct!r}")
        _check_positive(self.decay_interval_s, "decay_interval_s")

    def ejection_cap(self, backends: int) -> int:
        """How many of ``backends`` may be ejected at once (0 when the percent is 0)."""
        if self.max_ejection_percent <= 0 or backends <= 0:
            return 0
        return max(1, math.floor(backends * self.max_ejection_percent / 100))


class _Host:
    __slots__ = ("active_healthy", "ejected_until_s", "ejections", "failures", "name",
                 "readmitted_s", "serial")

    def __init__(self, name: str, serial: int) -> None:
        self.name = name
        self.serial = serial       # which incarnation of the name this is
        self.failures = 0          # current run of consecutive failures
        self.ejections = 0         # multiplier of the next ejection, before decay
        self.ejected_until_s: float | None = None
        self.readmitted_s: float | None = None
        self.active_healthy = True


@dataclass(frozen=True, slots=True)
class HealthStatistics:
    """A snapshot: who is out of rotation and why."""

    backends: int
    ejected_until_s: Mapping[str, float]   # passively ejected backends, until when
    ejections: Mapping[str, int]           # current multiplier per backend (> 0 only)
    unhealthy: frozenset[str]              # marked down by active checks
    ejection_cap: int
    total_ejections: int


class HealthTracker:
    """Availability of each backend from passive detection and active checks."""

    def __init__(self, outlier: OutlierDetection | None = OutlierDetection()) -> None:
        self.outlier = outlier
        self._hosts: dict[str, _Host] = {}
        # Names with a run of failures in progress. A success elsewhere needs no call
        # into the tracker at all, which keeps the per-request path short.
        self.failing: set[str] = set()
        self._ejected = 0
        self._total_ejections = 0
        self.version = 0
        self.next_readmission_s = math.inf

    # -- membership ------------------------------------------------------------------

    def sync(self, members: Iterable[str] | Mapping[str, int]) -> None:
        """Track exactly ``members``: new ones start healthy, missing ones are forgotten.

        ``members`` maps each name to a serial (``Pool.serials()``); a name whose serial
        changed was removed and added back, and starts afresh. Plain names count as
        serial 0.
        """
        wanted = members if isinstance(members, Mapping) else dict.fromkeys(members, 0)
        hosts = self._hosts
        changed = False
        for name, host in list(hosts.items()):
            if wanted.get(name) != host.serial:
                del hosts[name]
                self.failing.discard(name)
                if host.ejected_until_s is not None:
                    self._ejected -= 1
                changed = (changed or host.ejected_until_s is not None
                           or not host.active_healthy)
        for name, serial in wanted.items():
            if name not in hosts:
                hosts[name] = _Host(name, serial)
        # A smaller pool has a smaller cap: readmit the ejections that end soonest until
        # the ejected share is within it again.
        excess = self._ejected - self.ejection_cap()
        if self.outlier is not None and excess > 0:
            ejected = sorted((h.ejected_until_s, n) for n, h in hosts.items()
                             if h.ejected_until_s is not None)
            for until, name in ejected[:excess]:
                self._readmit(hosts[name], until)
            changed = True
        if changed:
            self._recompute_next()
            self.version += 1

    # -- inputs ----------------------------------------------------------------------

    def record(self, name: str, ok: bool, now: float) -> None:
        """A request on ``name`` finished; failures in a row may eject it."""
        host = self._hosts.get(name)
        if host is None:
            return  # removed while the request was in flight
        if now >= self.next_readmission_s:
            self.refresh(now)
        if ok:
            host.failures = 0
            self.failing.discard(name)
            return
        outlier = self.outlier
        if outlier is None or host.ejected_until_s is not None:
            return  # late answers from an ejected backend say nothing new
        host.failures = min(host.failures + 1, CONSECUTIVE_FAILURES_MAX)
        self.failing.add(name)
        if host.failures < outlier.consecutive_failures:
            return
        if self._ejected >= outlier.ejection_cap(len(self._hosts)):
            return  # the cap protects the service; keep counting, retry next failure
        self._eject(host, outlier, now)

    def report_health(self, name: str, healthy: bool, now: float) -> None:
        """Verdict of an active check for ``name`` at ``now``."""
        host = self._hosts.get(name)
        if host is None:
            raise KeyError(f"no backend named {name!r} is tracked; add it to the pool first")
        if now >= self.next_readmission_s:
            self.refresh(now)
        changed = host.active_healthy != healthy
        host.active_healthy = healthy
        if healthy:
            outlier = self.outlier
            if (host.ejected_until_s is not None and outlier is not None
                    and outlier.uneject_on_active_success):
                self._readmit(host, now)
                self._recompute_next()
                changed = True
        if changed:
            self.version += 1

    def refresh(self, now: float) -> None:
        """Readmit every backend whose ejection has ended by ``now``."""
        if now < self.next_readmission_s:
            return
        for host in self._hosts.values():
            until = host.ejected_until_s
            if until is not None and until <= now:
                self._readmit(host, until)
        self._recompute_next()
        self.version += 1

    # -- views -----------------------------------------------------------------------

    def is_available(self, name: str) -> bool:
        """True unless ``name`` is ejected or marked down (unknown names are available:
        the balancer syncs membership before asking)."""
        host = self._hosts.get(name)
        return host is None or (host.ejected_until_s is None and host.active_healthy)

    def is_ejected(self, name: str) -> bool:
        host = self._hosts.get(name)
        return host is not None and host.ejected_until_s is not None

    def ejected_count(self) -> int:
        return self._ejected

    def ejection_cap(self) -> int:
        return 0 if self.outlier is None else self.outlier.ejection_cap(len(self._hosts))

    def statistics(self) -> HealthStatistics:
        hosts = self._hosts
        return HealthStatistics(
            backends=len(hosts),
            ejected_until_s={n: h.ejected_until_s for n, h in hosts.items()
                             if h.ejected_until_s is not None},
            ejections={n: h.ejections for n, h in hosts.items() if h.ejections},
            unhealthy=frozenset(n for n, h in hosts.items() if not h.active_healthy),
            ejection_cap=self.ejection_cap(),
            total_ejections=self._total_ejections,
        )

    # -- internals -------------------------------------------------------------------

    def _eject(self, host: _Host, outlier: OutlierDetection, now: float) -> None:
        if host.readmitted_s is not None and host.ejections:
            quiet_intervals = math.floor((now - host.readmitted_s) / outlier.decay_interval_s)
            host.ejections = max(0, host.ejections - max(0, quiet_intervals))
        host.ejections += 1
        duration_s = min(outlier.base_ejection_time_s * host.ejections,
                         outlier.max_ejection_time_s)
        host.ejected_until_s = now + duration_s
        host.failures = 0
        self.failing.discard(host.name)
        self._ejected += 1
        self._total_ejections += 1
        self.next_readmission_s = min(self.next_readmission_s, host.ejected_until_s)
        self.version += 1

    def _readmit(self, host: _Host, at_s: float) -> None:
        host.ejected_until_s = None
        host.readmitted_s = at_s
        host.failures = 0
        self.failing.discard(host.name)
        self._ejected -= 1

    def _recompute_next(self) -> None:
        self.next_readmission_s = min(
            (h.ejected_until_s for h in self._hosts.values() if h.ejected_until_s is not None),
            default=math.inf)
