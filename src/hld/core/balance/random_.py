"""Random choice, weighted by backend weight, from a caller-supplied random source.

With equal weights this is a uniform pick by one ``rng.random()`` call. With unequal
weights a cumulative-weight table is built when the candidates change and searched by
bisection, so a pick stays O(log n). The random source is a parameter (a seeded
``random.Random`` in tests and simulations) because the core owns no randomness.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate

from hld.core.balance.base import Backend, Balancer, Pool, Request, Rng, WhenAllEjected
from hld.core.balance.health import HealthTracker


class RandomBalancer(Balancer):
    """Random choice weighted by backend weight."""

    name = "random"

    def __init__(self, pool: Pool | Iterable[Backend | str], *, rng: Rng,
                 health: HealthTracker | None = None,
                 when_all_ejected: WhenAllEjected = "panic") -> None:
        super().__init__(pool, health=health, when_all_ejected=when_all_ejected)
        self._rng = rng
        self._cumulative: list[int] = []
        self._uniform = True

    def _rebuilt(self, candidates: tuple[Backend, ...]) -> None:
        self._cumulative = list(accumulate(b.weight for b in candidates))
        self._uniform = all(b.weight == candidates[0].weight for b in candidates)

    def _choose(self, candidates: Sequence[Backend], request: Request,
                now: float) -> Backend:
        r = self._rng.random()
        if self._uniform:
            return candidates[int(r * len(candidates))]
        cumulative = self._cumulative
        # min() guards r * total == total, which float rounding can produce.
        return candidates[min(bisect_right(cumulative, r * cumulative[-1]),
                              len(candidates) - 1)]
