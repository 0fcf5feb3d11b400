"""Round robin: each pick takes the next available backend in pool order.

A single counter walks the candidate list modulo its length. When the list changes (a
backend ejected, added or removed) the counter keeps running, so rotation continues
from about where it was instead of restarting at the first backend, which would
overload it after every change. Weights are ignored; see ``weighted`` for them.
"""

from __future__ import annotations

from collections.abc import Sequence

from hld.core.balance.base import EMPTY_REQUEST, Backend, Balancer, Request


class RoundRobin(Balancer):
    """Round robin over available backends, ignoring weights."""

    name = "round_robin"
    _next = 0

    def pick(self, request: Request = EMPTY_REQUEST, now: float = 0.0) -> Backend:
        # Balancer.pick with _choose inlined: the cheapest policy should stay cheap.
        health = self.health
        candidates = self._candidates
        if (now >= health.next_readmission_s or self._pool_version != self.pool.version
                or self._health_version != health.version or not candidates):
            candidates = self.candidates(now)
        i = self._next
        self._next = i + 1
        return candidates[i % len(candidates)]

    def _choose(self, candidates: Sequence[Backend], request: Request,
                now: float) -> Backend:
        i = self._next
        self._next = i + 1
        return candidates[i % len(candidates)]
