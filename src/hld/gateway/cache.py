"""Response cache for GET and HEAD, honouring Cache-Control, ETag/If-None-Match and Vary.

A response is stored when it is a 200 to a GET, its ``Cache-Control`` allows a shared
cache (no ``no-store``, ``private`` or ``no-cache``; ``s-maxage`` over ``max-age``; the
route's ``ttl_s`` when it says nothing), it sets no cookie, ``Vary`` is not ``*``, the
request carried no credentials and did not ask for ``no-store``, and the body fits
``CACHE_ENTRY_BYTES_MAX``. The key is host + target + the values of the request headers
named by ``Vary`` (remembered per target from the first stored response). Eviction uses a
policy from ``hld.core.cache``; expiry is per entry with the gateway's clock passed in.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from hld.core.cache import make
from hld.core.cache.ttl import TTLCache
from hld.gateway.config import CachePolicy

if TYPE_CHECKING:
    from hld.gateway.proxy import Exchange

_DIRECTIVE = re.compile(rb"([a-z-]+)(?:=\"?([^\",]*)\"?)?")
VARY_TARGETS_MAX = 10_000  # targets whose Vary list is remembered

Entry = tuple[int, list[tuple[bytes, bytes]], bytes, bytes | None]


def directives(value: bytes | None) -> dict[bytes, bytes]:
    if not value:
        return {}
    return {m.group(1): m.group(2) or b"" for m in _DIRECTIVE.finditer(value.lower())}


class ResponseCache:
    def __init__(self, config: CachePolicy) -> None:
        self.config = config
        self.entries: TTLCache[tuple[bytes, ...], Entry] = TTLCache(
            make(config.policy, config.size), default_ttl_s=config.ttl_s)
        self.vary: dict[bytes, tuple[bytes, ...]] = {}

    def _key(self, exchange: Exchange, vary: tuple[bytes, ...]) -> tuple[bytes, ...]:
        head = exchange.head
        return (head.host, head.target, *((head.get(name) or b"") for name in vary))

    def lookup(self, exchange: Exchange, now: float) -> Entry | None:
        head = exchange.head
        request_cc = directives(head.get(b"cache-control"))
        if b"no-cache" in request_cc or b"no-store" in request_cc \
                or head.get(b"authorization") is not None:
            return None
        vary = self.vary.get(head.target)
        if vary is None:
            return None
        return self.entries.get(self._key(exchange, vary), now)

    def storable(self, exchange: Exchange, status: int,
                 headers: list[tuple[bytes, bytes]]) -> Any:
        if status != 200:
            return None
        head = exchange.head
        if head.get(b"authorization") is not None \
                or b"no-store" in directives(head.get(b"cache-control")):
            return None
        vary: tuple[bytes, ...] = ()
        cache_control = None
        for name, value in headers:
            if name == b"set-cookie":
                return None
            if name == b"cache-control":
                cache_control = value
            elif name == b"vary":
                if value.strip() == b"*":
                    return None
                vary = tuple(sorted(v.strip().lower() for v in value.split(b",") if v.strip()))
        cc = directives(cache_control)
        if b"no-store" in cc or b"private" in cc or b"no-cache" in cc:
            return None
        ttl_s = self.config.ttl_s
        for name in (b"s-maxage", b"max-age"):
            if name in cc:
                if not cc[name].isdigit():
                    return None
                ttl_s = float(cc[name])
                break
        if ttl_s <= 0:
            return None
        if len(self.vary) >= VARY_TARGETS_MAX and head.target not in self.vary:
            return None
        return (self._key(exchange, vary), vary, ttl_s)

    def store(self, key: Any, status: int, headers: list[tuple[bytes, bytes]], body: bytes,
              now: float) -> None:
        entry_key, vary, ttl_s = key
        etag = next((v for n, v in headers if n == b"etag"), None)
        self.vary[entry_key[1]] = vary
        self.entries.put(entry_key, (status, headers, body, etag), now, ttl_s)
