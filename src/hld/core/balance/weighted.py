"""Smooth weighted round robin, exactly as nginx's upstream module does it.

Each backend carries a running ``current`` score. On every pick each candidate's score
grows by its weight, the highest score wins (the first one on ties, in pool order), and
the winner's score drops by the sum of all weights. Over one cycle of ``sum(weights)``
picks every backend is chosen exactly ``weight`` times, and heavy backends are spread
through the cycle instead of bunched: weights {a: 5, b: 1, c: 1} give a a b a c a a.

Scores are kept per backend name, so they survive ejections and pool changes the way
nginx keeps them for peers marked down (a down peer simply does not take part).
nginx also lowers an ``effective_weight`` after failures; here failures are the health
tracker's job, so weights stay as configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import add

from hld.core.balance.base import Backend, Balancer, Pool, Request, WhenAllEjected
from hld.core.balance.health import HealthTracker


class SmoothWeightedRoundRobin(Balancer):
    """Smooth weighted round robin (nginx)."""

    name = "weighted_round_robin"

    def __init__(self, pool: Pool | Iterable[Backend | str], *,
                 health: HealthTracker | None = None,
                 when_all_ejected: WhenAllEjected = "panic") -> None:
        super().__init__(pool, health=health, when_all_ejected=when_all_ejected)
        self._names: list[str] = []
        self._weights: list[int] = []
        self._current: list[int] = []
        self._total = 0

    def _rebuilt(self, candidates: tuple[Backend, ...]) -> None:
        old = dict(zip(self._names, self._current, strict=True))
        self._names = [b.name for b in candidates]
        self._weights = [b.weight for b in candidates]
        self._current = [old.get(name, 0) for name in self._names]
        self._total = sum(self._weights)

    def _choose(self, candidates: Sequence[Backend], request: Request,
                now: float) -> Backend:
        current = self._current
        current[:] = map(add, current, self._weights)
        # list.index(max(...)) returns the first maximum: nginx's tie-break.
        best = current.index(max(current))
        current[best] -= self._total
        return candidates[best]

    def current_weights(self) -> dict[str, int]:
        """The running scores, for tests and the dashboard."""
        return dict(zip(self._names, self._current, strict=True))
