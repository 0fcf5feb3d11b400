"""Hash-based balancing: IP hash and hash-by-key, over hld.core.hashing's schemes.

The same client address (``IpHash``) or routing key (``KeyHash``: ``request.key``, or a
named header) keeps landing on the same backend, which keeps per-client state and warm
caches useful. The placement is a consistent hash ring from ``hld.core.hashing`` built
over the *available* backends with their weights, so ejecting one backend moves only the
keys it owned, and readmitting it moves them back. The ring is rebuilt only when the
candidate set changes; a pick is one hash and one bisection.

Any scheme with ``lookup(key) -> node name`` can stand in (Maglev, rendezvous) through
``scheme_factory``. A request without the attribute to hash (no client address, no key)
cannot be placed by hashing; it falls back to round robin over the same candidates so it
is still served.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from hld.core.balance.base import Backend, Balancer, Pool, Request, WhenAllEjected
from hld.core.balance.health import HealthTracker


class KeyLookup(Protocol):
    """What a hashing scheme offers a balancer (``hld.core.hashing.base.Scheme`` does)."""

    def lookup(self, key: str | bytes) -> str: ...


SchemeFactory = Callable[[Mapping[str, float]], KeyLookup]


def default_scheme(nodes: Mapping[str, float]) -> KeyLookup:
    """A consistent hash ring with virtual nodes, weighted (hld.core.hashing.ring)."""
    from hld.core.hashing.ring import HashRing

    return HashRing(nodes)


class _HashBalancer(Balancer):
    def __init__(self, pool: Pool | Iterable[Backend | str], *,
                 scheme_factory: SchemeFactory = default_scheme,
                 health: HealthTracker | None = None,
                 when_all_ejected: WhenAllEjected = "panic") -> None:
        super().__init__(pool, health=health, when_all_ejected=when_all_ejected)
        self._scheme_factory = scheme_factory
        self._scheme: KeyLookup | None = None
        self._by_name: dict[str, Backend] = {}
        self._next = 0

    def _key(self, request: Request) -> str | bytes | None:
        raise NotImplementedError

    def _rebuilt(self, candidates: tuple[Backend, ...]) -> None:
        self._by_name = {b.name: b for b in candidates}
        self._scheme = (self._scheme_factory({b.name: float(b.weight) for b in candidates})
                        if candidates else None)

    def _choose(self, candidates: Sequence[Backend], request: Request,
                now: float) -> Backend:
        key = self._key(request)
        scheme = self._scheme
        if key is None or scheme is None:
            i = self._next
            self._next = i + 1
            return candidates[i % len(candidates)]
        return self._by_name[scheme.lookup(key)]


class IpHash(_HashBalancer):
    """The same client address goes to the same backend (while it is available)."""

    name = "ip_hash"

    def _key(self, request: Request) -> str | bytes | None:
        return request.client_address or None


class KeyHash(_HashBalancer):
    """The same routing key goes to the same backend: ``request.key`` or a header."""

    name = "key_hash"

    def __init__(self, pool: Pool | Iterable[Backend | str], *, header: str | None = None,
                 scheme_factory: SchemeFactory = default_scheme,
                 health: HealthTracker | None = None,
                 when_all_ejected: WhenAllEjected = "panic") -> None:
        if header is not None and (not isinstance(header, str) or not header):
            raise ValueError(f"header must be a non-empty header name, got {header!r}")
        super().__init__(pool, scheme_factory=scheme_factory, health=health,
                         when_all_ejected=when_all_ejected)
        # Header names are case-insensitive; the runtime is expected to pass them
        # lower-cased, as HTTP/2 and our HTTP layer do.
        self.header = header.lower() if header is not None else None

    def _key(self, request: Request) -> str | bytes | None:
        if self.header is not None:
            return request.headers.get(self.header) or None
        return request.key or None
