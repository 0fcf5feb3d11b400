"""Power of two choices: sample two distinct backends at random, send to the less loaded.

Picking the better of two random backends keeps the worst queue exponentially shorter
than one random choice does, while costing O(1) per pick and, unlike a full "least"
scan, not herding every balancer in a fleet onto the same momentarily idle backend.
Envoy's least-request balancer is this with load = requests in flight; Finagle, tower
and Linkerd use load = peak-EWMA RTT times (in flight + 1). Both are offered; load is
divided by weight so a heavier backend wins ties.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from hld.core.balance.base import Backend, Balancer, Pool, Request, Rng, WhenAllEjected
from hld.core.balance.health import HealthTracker
from hld.core.balance.latency import DEFAULT_DECAY_S, DEFAULT_RTT_S, RttTracker

P2CLoad = Literal["in_flight", "peak_ewma"]
P2C_LOADS = ("in_flight", "peak_ewma")


class PowerOfTwoChoices(Balancer):
    """The less loaded of two distinct, randomly sampled backends."""

    name = "p2c"

    def __init__(self, pool: Pool | Iterable[Backend | str], *, rng: Rng,
                 load: P2CLoad = "in_flight", default_rtt_s: float = DEFAULT_RTT_S,
                 decay_s: float = DEFAULT_DECAY_S, health: HealthTracker | None = None,
                 when_all_ejected: WhenAllEjected = "panic") -> None:
        if load not in P2C_LOADS:
            raise ValueError(f"load must be one of {P2C_LOADS}, got {load!r}")
        super().__init__(pool, health=health, when_all_ejected=when_all_ejected)
        self._rng = rng
        self.load = load
        self.rtt: RttTracker | None = (
            RttTracker(peak=True, default_rtt_s=default_rtt_s, decay_s=decay_s)
            if load == "peak_ewma" else None)
        self.name = f"p2c_{load}"
        self._observes = self.rtt is not None

    def _rebuilt(self, candidates: tuple[Backend, ...]) -> None:
        if self.rtt is not None:
            self.rtt.forget_except(b.name for b in self.pool)

    def _observe(self, name: str, latency_s: float, ok: bool, now: float) -> None:
        if self.rtt is not None:
            self.rtt.observe(name, latency_s, now)

    def _choose(self, candidates: Sequence[Backend], request: Request,
                now: float) -> Backend:
        n = len(candidates)
        if n == 1:
            return candidates[0]
        random = self._rng.random
        i = int(random() * n)
        j = int(random() * (n - 1))
        if j >= i:
            j += 1  # a second, distinct index, uniform over the other n - 1
        a, b = candidates[i], candidates[j]
        in_flight = self._in_flight
        load_a = (in_flight.get(a.name, 0) + 1) / a.weight
        load_b = (in_flight.get(b.name, 0) + 1) / b.weight
        rtt = self.rtt
        if rtt is not None:
            load_a *= rtt.estimate(a.name, now)
            load_b *= rtt.estimate(b.name, now)
        return b if load_b < load_a else a
