"""Connections to the store primary, its replica and the cache node, repointed on failover.

The control plane writes ``DATA_DIR/topology.json`` atomically when it promotes a
replica. A watcher task checks the file's modification time every ``TOPOLOGY_POLL_S``
and, when the addresses changed, opens new clients and swaps them in; requests in flight
keep the old client until they finish, then the old pool is closed. Callers always go
through the properties, never keep a client across awaits they do not control.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import redis.asyncio as aioredis

from hld.app.limits import (
    SSE_CLIENTS_MAX,
    STORE_CONNECTIONS_MAX,
    STORE_TIMEOUT_S,
    TOPOLOGY_POLL_S,
)
from hld.app.settings import Settings, Topology, read_topology, topology_mtime_ns

OLD_POOL_GRACE_S = 5.0  # requests in flight on a replaced client get this long to finish


def connect(url: str) -> aioredis.Redis:
    """A client whose pool is bounded and makes callers wait for a free connection.

    redis-py's default pool opens a new connection for every concurrent command; under a
    burst that is hundreds of connections per app, and the errors come back as "Too many
    connections". A blocking pool queues instead, for at most ``STORE_TIMEOUT_S``.
    """
    pool = aioredis.BlockingConnectionPool.from_url(
        url, decode_responses=True, max_connections=STORE_CONNECTIONS_MAX,
        timeout=STORE_TIMEOUT_S, socket_timeout=STORE_TIMEOUT_S,
        socket_connect_timeout=STORE_TIMEOUT_S)
    return aioredis.Redis(connection_pool=pool)


def connect_live(url: str) -> aioredis.Redis:
    """A client for pub/sub: each live stream holds one connection for its whole life,
    so they get their own pool (bounded by the live-stream limit) and never starve the
    request path's pool."""
    return aioredis.Redis.from_url(url, decode_responses=True,
                                   max_connections=SSE_CLIENTS_MAX + 1,
                                   socket_timeout=STORE_TIMEOUT_S,
                                   socket_connect_timeout=STORE_TIMEOUT_S)


class Stores:
    """The current primary, replica (None when there is none) and cache clients."""

    def __init__(self, settings: Settings, on_change: Callable[[Topology], None]) -> None:
        self._settings = settings
        self._fallback = settings.addresses()
        self._mtime_ns = topology_mtime_ns(settings.topology_path)
        self.topology = read_topology(settings.topology_path, self._fallback)
        self._on_change = on_change
        self.primary = connect(self.topology.primary)
        self.live = connect_live(self.topology.primary)
        self.replica = connect(self.topology.replica) if self.topology.replica else None
        self.cache = connect(self.topology.cache)
        self._task: asyncio.Task[None] | None = None
        self._retired: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._retired):
            task.cancel()
        for client in (self.primary, self.live, self.replica, self.cache):
            if client is not None:
                await client.aclose()

    async def _watch(self) -> None:
        path = self._settings.topology_path
        while True:
            await asyncio.sleep(TOPOLOGY_POLL_S)
            mtime = topology_mtime_ns(path)
            if mtime == self._mtime_ns:
                continue
            self._mtime_ns = mtime
            self.repoint(read_topology(path, self._fallback))

    def repoint(self, topology: Topology) -> None:
        """Swap in clients for whichever addresses changed."""
        if topology == self.topology:
            return
        old: list[aioredis.Redis] = []
        if topology.primary != self.topology.primary:
            old.extend((self.primary, self.live))
            self.primary = connect(topology.primary)
            self.live = connect_live(topology.primary)
        if topology.replica != self.topology.replica:
            if self.replica is not None:
                old.append(self.replica)
            self.replica = connect(topology.replica) if topology.replica else None
        if topology.cache != self.topology.cache:
            old.append(self.cache)
            self.cache = connect(topology.cache)
        self.topology = topology
        self._on_change(topology)
        task = asyncio.create_task(self._retire(old))
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    @staticmethod
    async def _retire(clients: list[aioredis.Redis]) -> None:
        await asyncio.sleep(OLD_POOL_GRACE_S)
        for client in clients:
            with contextlib.suppress(Exception):
                await client.aclose()
