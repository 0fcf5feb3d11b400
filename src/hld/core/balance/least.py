"""Least connections and weighted least connections, over the balancer's in-flight counts.

In-flight counts come from the lifecycle (``on_start`` / ``on_finish``), so they are exact
for this balancer's own traffic. A linear scan finds the minimum; the scan starts at a
rotating offset so that ties (an idle pool, the common case at low load) rotate like
round robin instead of always landing on the first backend.

The weighted variant compares ``(in_flight + 1) / weight``: the ``+ 1`` counts the request
being placed, which makes an idle heavy backend preferable to an idle light one (HAProxy's
and nginx's least_conn favour capacity the same way).
"""

from __future__ import annotations

from collections.abc import Sequence

from hld.core.balance.base import Backend, Balancer, Request


class LeastConnections(Balancer):
    """The available backend with the fewest requests in flight."""

    name = "least_connections"
    _next = 0

    def _choose(self, candidates: Sequence[Backend], request: Request,
                now: float) -> Backend:
        n = len(candidates)
        start = self._next % n
        self._next = start + 1
        in_flight = self._in_flight
        best = candidates[start]
        best_load = in_flight.get(best.name, 0)
        if best_load == 0:
            return best
        for i in range(start + 1, start + n):
            backend = candidates[i % n]
            load = in_flight.get(backend.name, 0)
            if load < best_load:
                if load == 0:
                    return backend
                best, best_load = backend, load
        return best


class WeightedLeastConnections(Balancer):
    """The available backend with the fewest in-flight requests per unit of weight."""

    name = "weighted_least_connections"
    _next = 0

    def _choose(self, candidates: Sequence[Backend], request: Request,
                now: float) -> Backend:
        n = len(candidates)
        start = self._next % n
        self._next = start + 1
        in_flight = self._in_flight
        best = candidates[start]
        best_load = (in_flight.get(best.name, 0) + 1) / best.weight
        for i in range(start + 1, start + n):
            backend = candidates[i % n]
            load = (in_flight.get(backend.name, 0) + 1) / backend.weight
            if load < best_load:
                best, best_load = backend, load
        return best
