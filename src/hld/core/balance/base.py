"""Backends, pools, request attributes and the interface every balancer implements.

A ``Pool`` is an ordered, named set of ``Backend`` values that may change while traffic
flows (add, remove, change a weight); each change bumps ``Pool.version``. A ``Balancer``
reads its pool and its ``HealthTracker`` lazily: on ``pick`` it compares versions and
rebuilds its list of candidates only when something changed, so the common pick costs a
few comparisons before the policy's own choice.

Lifecycle of one request, driven by the runtime (the core never measures anything)::

    backend = balancer.pick(request, now)        # choose; no side effect on load
    balancer.on_start(backend)                   # the request is now in flight there
    ...                                          # the runtime talks to backend.address
    balancer.on_finish(backend, latency_s, ok=ok, now=now2)   # exactly once per on_start

``on_finish`` decrements the in-flight count, feeds latency-aware policies and tells the
health tracker whether the attempt succeeded (passive outlier detection). Active checks
arrive through ``report_health``. A request whose backend was removed meanwhile still
finishes normally: its counters stay until the last in-flight request drains.

Several balancers may share one ``Pool`` and one ``HealthTracker``; that is how the
gateway switches policy live without forgetting which backends are ejected. In-flight
counts and latency estimates belong to each balancer, so a request is finished on the
balancer that started it (the old one drains while the new one takes new requests).

When every backend is ejected or unhealthy, ``when_all_ejected="panic"`` (the default,
like Envoy's panic mode) picks among all of them, ignoring health, because a degraded
answer beats none; ``"fail"`` raises ``NoBackendAvailable`` instead. An empty pool always
raises ``NoBackendAvailable``; the caller turns it into a 503.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from hld.core.balance.health import HealthTracker
from hld.core.balance.limits import BACKENDS_MAX, NAME_CHARS_MAX, WEIGHT_MAX

_INF = math.inf

WhenAllEjected = Literal["panic", "fail"]
WHEN_ALL_EJECTED = ("panic", "fail")


class NoBackendAvailable(LookupError):  # noqa: N818 - the name is the domain's sentence
    """No backend can take the request: the pool is empty, or all are ejected and the
    policy says fail. The caller answers 503 (or retries elsewhere)."""


class Rng(Protocol):
    """What a balancer needs from a random source (``random.Random`` qualifies)."""

    def random(self) -> float: ...


def check_weight(weight: object, what: str = "weight") -> int:
    if isinstance(weight, bool) or not isinstance(weight, int):
        raise TypeError(f"{what} must be an int, not {type(weight).__name__}")
    if not 1 <= weight <= WEIGHT_MAX:
        raise ValueError(f"{what} must be between 1 and {WEIGHT_MAX}, got {weight}; "
                         "remove the backend instead of giving it weight 0")
    return weight


def check_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"backend name must be a str, not {type(name).__name__}")
    if not name or len(name) > NAME_CHARS_MAX:
        raise ValueError(f"backend name must have 1 to {NAME_CHARS_MAX} characters, "
                         f"got {name!r}")
    return name


def check_latency(latency_s: object) -> float:
    if isinstance(latency_s, bool) or not isinstance(latency_s, int | float):
        raise TypeError(f"latency_s must be a number, not {type(latency_s).__name__}")
    if not math.isfinite(latency_s) or latency_s < 0:
        raise ValueError(f"latency_s must be a finite number >= 0, got {latency_s!r}")
    return float(latency_s)


@dataclass(frozen=True, slots=True)
class Backend:
    """One upstream: a unique name, a relative weight and where the runtime connects."""

    name: str
    weight: int = 1
    address: str = ""  # opaque to the core; the runtime resolves and connects

    def __post_init__(self) -> None:
        check_name(self.name)
        check_weight(self.weight, f"weight of backend {self.name!r}")
        if not isinstance(self.address, str):
            raise TypeError(f"address of backend {self.name!r} must be a str")


@dataclass(frozen=True, slots=True)
class Request:
    """What a balancer may look at: the client's address, a routing key, headers."""

    client_address: str | None = None
    key: str | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)


EMPTY_REQUEST = Request()


def _as_backend(item: Backend | str) -> Backend:
    if isinstance(item, Backend):
        return item
    if isinstance(item, str):
        return Backend(item)
    raise TypeError(f"expected a Backend or a backend name, not {type(item).__name__}")


class Pool:
    """An ordered, named set of backends that may change at runtime."""

    __slots__ = ("_added", "_backends", "_serials", "_snapshot", "version")

    def __init__(self, backends: Iterable[Backend | str] = ()) -> None:
        self._backends: dict[str, Backend] = {}
        # Each add gets a new serial, so a backend removed and added back between two
        # picks is seen as a new member (fresh health), not as the old one.
        self._serials: dict[str, int] = {}
        self._added = 0
        self._snapshot: tuple[Backend, ...] = ()
        self.version = 0
        for item in backends:
            self.add(item)

    def add(self, backend: Backend | str) -> Backend:
        """Add a backend (a bare name means weight 1); a duplicate name is an error."""
        backend = _as_backend(backend)
        if backend.name in self._backends:
            raise ValueError(f"duplicate backend name {backend.name!r}; names must be unique "
                             "(use set_weight to change an existing backend)")
        if len(self._backends) >= BACKENDS_MAX:
            raise ValueError(f"a pool holds at most {BACKENDS_MAX} backends")
        self._backends[backend.name] = backend
        self._added += 1
        self._serials[backend.name] = self._added
        self._changed()
        return backend

    def remove(self, name: str) -> Backend:
        """Remove and return the backend called ``name``."""
        try:
            backend = self._backends.pop(name)
        except KeyError:
            raise KeyError(f"no backend named {name!r} in the pool") from None
        del self._serials[name]
        self._changed()
        return backend

    def set_weight(self, name: str, weight: int) -> Backend:
        """Give backend ``name`` a new weight; its position in the order is kept."""
        old = self._backends.get(name)
        if old is None:
            raise KeyError(f"no backend named {name!r} in the pool")
        new = Backend(name, weight, old.address)
        self._backends[name] = new
        self._changed()
        return new

    def get(self, name: str) -> Backend | None:
        return self._backends.get(name)

    @property
    def backends(self) -> tuple[Backend, ...]:
        return self._snapshot

    def serials(self) -> dict[str, int]:
        """Name -> serial of the add that made it a member (changes on remove + add)."""
        return dict(self._serials)

    def _changed(self) -> None:
        self._snapshot = tuple(self._backends.values())
        self.version += 1

    def __len__(self) -> int:
        return len(self._backends)

    def __contains__(self, name: object) -> bool:
        return name in self._backends

    def __iter__(self) -> Iterator[Backend]:
        return iter(self._snapshot)

    def __repr__(self) -> str:
        return f"Pool({[b.name for b in self._snapshot]!r})"


@dataclass(frozen=True, slots=True)
class BalancerStatistics:
    """A snapshot of a balancer's view of its pool."""

    policy: str
    backends: int
    available: int
    panic: bool
    in_flight: Mapping[str, int]


class Balancer(ABC):
    """Base of every policy: pool and health bookkeeping, in-flight counts, lifecycle.

    Subclasses implement ``_choose(candidates, request, now)``; ``candidates`` is never
    empty and holds only available backends (or, in panic mode, all of them). They may
    override ``_rebuilt`` to refresh per-candidate tables and ``_observe`` to learn from
    finished requests.
    """

    name: str = "balancer"
    _observes = False  # True in subclasses whose ``_observe`` learns from outcomes

    def __init__(self, pool: Pool | Iterable[Backend | str], *,
                 health: HealthTracker | None = None,
                 when_all_ejected: WhenAllEjected = "panic") -> None:
        if when_all_ejected not in WHEN_ALL_EJECTED:
            raise ValueError(f"when_all_ejected must be one of {WHEN_ALL_EJECTED}, "
                             f"got {when_all_ejected!r}")
        self.pool = pool if isinstance(pool, Pool) else Pool(pool)
        # Without a tracker from the caller, active checks still work; passive outlier
        # detection is opt-in, as in Envoy.
        self.health = health if health is not None else HealthTracker(outlier=None)
        self.when_all_ejected: WhenAllEjected = when_all_ejected
        self._pool_version = -1
        self._health_version = -1
        self._candidates: tuple[Backend, ...] = ()
        self._panic = False
        self._in_flight: dict[str, int] = {}

    # -- the lifecycle ---------------------------------------------------------------

    def pick(self, request: Request = EMPTY_REQUEST, now: float = 0.0) -> Backend:
        """Choose a backend for ``request`` at time ``now`` (seconds, monotonic)."""
        # The staleness test of ``candidates`` inlined: this runs once per request.
        health = self.health
        if (now >= health.next_readmission_s or self._pool_version != self.pool.version
                or self._health_version != health.version or not self._candidates):
            return self._choose(self.candidates(now), request, now)
        return self._choose(self._candidates, request, now)

    def on_start(self, backend: Backend) -> None:
        """The runtime sent a request to ``backend`` (which ``pick`` returned)."""
        name = backend.name
        self._in_flight[name] = self._in_flight.get(name, 0) + 1

    def on_finish(self, backend: Backend, latency_s: float, ok: bool = True,
                  now: float = 0.0) -> None:
        """The request started on ``backend`` ended after ``latency_s``; ``ok`` is False
        for errors the backend is to blame for (connect failure, 5xx, timeout)."""
        if latency_s.__class__ is not float or not 0.0 <= latency_s < _INF:
            latency_s = check_latency(latency_s)  # raises for NaN, inf, < 0, non-numbers
        name = backend.name
        counts = self._in_flight
        count = counts.get(name, 0)
        if count > 1:
            counts[name] = count - 1
        elif count == 1 and name not in self.pool:
            del counts[name]  # the last request of a removed backend drained
        elif count == 1:
            counts[name] = 0
        else:
            raise ValueError(f"on_finish for backend {name!r} without a matching on_start")
        health = self.health
        # Only passive detection learns from outcomes, and a success matters only to a
        # backend in the middle of a run of failures.
        if health.outlier is not None and (not ok or name in health.failing):
            if self._pool_version != self.pool.version:
                self._rebuild()  # the tracker must know the backend before it counts
            health.record(name, ok, now)
        if self._observes:
            self._observe(name, latency_s, ok, now)

    def report_health(self, backend: Backend | str, healthy: bool, now: float) -> None:
        """Verdict of the runtime's active health checker for ``backend``."""
        name = backend.name if isinstance(backend, Backend) else backend
        if self._pool_version != self.pool.version:
            self._rebuild()  # the tracker must know a backend added since the last pick
        self.health.report_health(name, healthy, now)

    # -- views -----------------------------------------------------------------------

    def candidates(self, now: float = 0.0) -> tuple[Backend, ...]:
        """Backends a pick may return at ``now``; raises ``NoBackendAvailable``."""
        health = self.health
        if now >= health.next_readmission_s:
            health.refresh(now)
        if self._pool_version != self.pool.version or self._health_version != health.version:
            self._rebuild()
        candidates = self._candidates
        if not candidates:
            if not self.pool:
                raise NoBackendAvailable("the pool has no backends; add one before routing")
            raise NoBackendAvailable(
                f"all {len(self.pool)} backends are ejected or unhealthy and "
                "when_all_ejected='fail'")
        return candidates

    def in_flight(self, backend: Backend | str) -> int:
        name = backend.name if isinstance(backend, Backend) else backend
        return self._in_flight.get(name, 0)

    def statistics(self) -> BalancerStatistics:
        self._rebuild()
        available = 0 if self._panic else len(self._candidates)
        return BalancerStatistics(self.name, len(self.pool), available, self._panic,
                                  dict(self._in_flight))

    # -- for subclasses --------------------------------------------------------------

    @abstractmethod
    def _choose(self, candidates: Sequence[Backend], request: Request,
                now: float) -> Backend:
        """Pick one of ``candidates`` (never empty)."""

    def _rebuilt(self, candidates: tuple[Backend, ...]) -> None:  # noqa: B027 - optional hook
        """The candidate list changed; refresh derived tables. Default: nothing."""

    def _observe(self, name: str, latency_s: float, ok: bool, now: float) -> None:  # noqa: B027
        """A request on ``name`` finished (called only when ``_observes`` is True)."""

    def _rebuild(self) -> None:
        pool = self.pool
        backends = pool.backends
        health = self.health
        health.sync(pool.serials())
        available = tuple(b for b in backends if health.is_available(b.name))
        self._panic = bool(backends) and not available
        if self._panic and self.when_all_ejected == "panic":
            available = backends
        self._candidates = available
        self._pool_version = pool.version
        self._health_version = health.version
        members = {b.name for b in backends}
        for name in [n for n, count in self._in_flight.items()
                     if count == 0 and n not in members]:
            del self._in_flight[name]
        self._rebuilt(available)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.pool!r})"
