"""Pub/sub registry: channel and pattern subscriptions, and message fan-out.

Subscribers are ``Client`` objects; a published message is encoded once per protocol
(RESP2 array, RESP3 push) and handed to each subscriber's ``push`` callable, which the
shell connects to the socket (subject to the pub/sub output buffer limit). Patterns use
Redis' glob syntax (``hld.core.kv.glob``); a compiled matcher is cached per pattern.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hld.core.kv.glob import compile_glob
from hld.core.resp.serializer import bulk


def _message(proto: int, parts: tuple[bytes, ...]) -> bytes:
    head = b">%d\r\n" % len(parts) if proto == 3 else b"*%d\r\n" % len(parts)
    return head + b"".join(bulk(p) for p in parts)


class PubSub:
    """Who listens to what."""

    def __init__(self) -> None:
        self.channels: dict[bytes, set[Any]] = {}
        self.patterns: dict[bytes, set[Any]] = {}
        self._matchers: dict[bytes, Callable[[bytes], bool]] = {}

    def subscribe(self, client: Any, channel: bytes) -> bool:
        if channel in client.channels:
            return False
        client.channels.add(channel)
        self.channels.setdefault(channel, set()).add(client)
        return True

    def unsubscribe(self, client: Any, channel: bytes) -> bool:
        if channel not in client.channels:
            return False
        client.channels.discard(channel)
        subs = self.channels.get(channel)
        if subs is not None:
            subs.discard(client)
            if not subs:
                del self.channels[channel]
        return True

    def psubscribe(self, client: Any, pattern: bytes) -> bool:
        if pattern in client.patterns:
            return False
        client.patterns.add(pattern)
        self.patterns.setdefault(pattern, set()).add(client)
        if pattern not in self._matchers:
            self._matchers[pattern] = compile_glob(pattern)
        return True

    def punsubscribe(self, client: Any, pattern: bytes) -> bool:
        if pattern not in client.patterns:
            return False
        client.patterns.discard(pattern)
        subs = self.patterns.get(pattern)
        if subs is not None:
            subs.discard(client)
            if not subs:
                del self.patterns[pattern]
                self._matchers.pop(pattern, None)
        return True

    def drop(self, client: Any) -> None:
        """Forget every subscription of a disconnected client."""
        for channel in list(client.channels):
            self.unsubscribe(client, channel)
        for pattern in list(client.patterns):
            self.punsubscribe(client, pattern)

    def publish(self, channel: bytes, message: bytes) -> int:
        """Deliver to channel then pattern subscribers; returns the number of deliveries."""
        delivered = 0
        encoded: dict[int, bytes] = {}
        for client in tuple(self.channels.get(channel, ())):
            data = encoded.get(client.proto)
            if data is None:
                data = encoded[client.proto] = _message(
                    client.proto, (b"message", channel, message))
            client.push(data)
            delivered += 1
        for pattern, clients in tuple(self.patterns.items()):
            if not self._matchers[pattern](channel):
                continue
            pencoded: dict[int, bytes] = {}
            for client in tuple(clients):
                data = pencoded.get(client.proto)
                if data is None:
                    data = pencoded[client.proto] = _message(
                        client.proto, (b"pmessage", pattern, channel, message))
                client.push(data)
                delivered += 1
        return delivered

    def active_channels(self, pattern: bytes | None = None) -> list[bytes]:
        if pattern is None:
            return list(self.channels)
        match = compile_glob(pattern)
        return [c for c in self.channels if match(c)]

    def numsub(self, channel: bytes) -> int:
        return len(self.channels.get(channel, ()))

    def numpat(self) -> int:
        return len(self.patterns)
