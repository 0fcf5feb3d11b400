"""hld-store's Prometheus endpoint: ``GET /metrics`` on ``--metrics-port`` (off by default).

Strategy: nothing is counted twice. ``StoreCollector`` reads the same figures INFO
reports (``hld.core.kv.info.fields``) at scrape time and turns them into metric families,
so the hot path pays nothing for metrics. A tiny HTTP/1.0-style responder runs on the
store's own event loop (no threads): it reads one bounded request head, answers, closes.
Only ``GET /metrics`` (and ``HEAD``) are served; anything else gets 404/405, and a peer
that sends too much or too slowly is cut off (limits in ``hld.store.limits``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from hld.core.kv import info
from hld.store import limits

# (INFO section, INFO field, metric name, help, kind): counters lose their _total in
# the family name (prometheus_client adds it on exposition).
_NUMERIC = (
    ("stats", "total_commands_processed", "hld_store_commands_processed",
     "Commands executed", "counter"),
    ("stats", "total_connections_received", "hld_store_connections_received",
     "Client connections accepted", "counter"),
    ("stats", "rejected_connections", "hld_store_connections_rejected",
     "Client connections refused at maxclients", "counter"),
    ("stats", "keyspace_hits", "hld_store_keyspace_hits", "Key lookups that found the key",
     "counter"),
    ("stats", "keyspace_misses", "hld_store_keyspace_misses",
     "Key lookups that found nothing", "counter"),
    ("stats", "expired_keys", "hld_store_expired_keys", "Keys removed by expiry", "counter"),
    ("stats", "evicted_keys", "hld_store_evicted_keys", "Keys removed by maxmemory eviction",
     "counter"),
    ("stats", "total_oom_rejected_commands", "hld_store_oom_rejected_commands",
     "Writes refused with OOM", "counter"),
    ("clients", "connected_clients", "hld_store_connected_clients", "Clients connected",
     "gauge"),
    ("clients", "blocked_clients", "hld_store_blocked_clients",
     "Clients waiting in a blocking command", "gauge"),
    ("memory", "used_memory", "hld_store_used_memory_bytes",
     "Approximate bytes the dataset takes (INFO used_memory)", "gauge"),
    ("memory", "used_memory_rss", "hld_store_used_memory_rss_bytes", "Process RSS", "gauge"),
    ("memory", "maxmemory", "hld_store_maxmemory_bytes", "maxmemory setting (0: none)",
     "gauge"),
    ("replication", "master_repl_offset", "hld_store_replication_offset_bytes",
     "Replication offset", "gauge"),
    ("replication", "connected_slaves", "hld_store_connected_replicas",
     "Replicas connected to this primary", "gauge"),
    ("persistence", "aof_enabled", "hld_store_aof_enabled", "1 when appendonly is on",
     "gauge"),
    ("persistence", "aof_rewrite_in_progress", "hld_store_aof_rewrite_in_progress",
     "1 while the AOF is being rewritten", "gauge"),
    ("persistence", "aof_current_size", "hld_store_aof_size_bytes", "AOF size", "gauge"),
    ("persistence", "rdb_changes_since_last_save", "hld_store_changes_since_last_save",
     "Writes since the last snapshot", "gauge"),
    ("server", "uptime_in_seconds", "hld_store_uptime_seconds", "Seconds since start",
     "gauge"),
)


class MetricsListenError(OSError):
    """The metrics port could not be bound."""

    def __init__(self, bind: str, port: int, reason: str) -> None:
        super().__init__(f"cannot listen on {bind}:{port} (metrics port): {reason}")
        self.reason = reason


class StoreCollector:
    """A prometheus_client collector reading the engine's INFO figures at scrape time."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        sections: dict[str, dict[str, Any]] = {}
        for section, field, name, text, kind in _NUMERIC:
            if section not in sections:
                sections[section] = info.fields(self.engine, section)
            value = sections[section].get(field)
            if not isinstance(value, int | float):
                continue  # a section the running build does not provide
            family = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)
            yield family(name, text, value=value)
        keys = GaugeMetricFamily("hld_store_keys", "Keys in the keyspace",
                                 value=len(self.engine.db))
        yield keys
        replication = sections.get("replication") or info.fields(self.engine, "replication")
        role = GaugeMetricFamily("hld_store_role", "1 for the role this process has",
                                 labels=["role"])
        role.add_metric([str(replication.get("role", "master"))], 1)
        yield role
        persistence = sections.get("persistence") or {}
        write_ok = GaugeMetricFamily("hld_store_aof_last_write_ok",
                                     "1 when the last AOF write succeeded")
        write_ok.add_metric([], 1 if persistence.get("aof_last_write_status", "ok") == "ok"
                            else 0)
        yield write_ok

    def registry(self) -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        return registry


def _response(status: str, body: bytes, content_type: str, *, head: bool = False) -> bytes:
    header = (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
              f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return header if head else header + body


class MetricsServer:
    """The ``/metrics`` HTTP responder on the store's event loop."""

    def __init__(self, engine: Any, bind: str, port: int) -> None:
        self.registry = StoreCollector(engine).registry()
        self.bind = bind
        self.port = port
        self._server: asyncio.base_events.Server | None = None
        self._clients = 0

    async def start(self) -> None:
        """Listen; OSError (port taken) names the metrics address, not the store's."""
        try:
            self._server = await asyncio.start_server(
                self._serve, self.bind, self.port, reuse_address=True,
                limit=limits.METRICS_REQUEST_BYTES_MAX)
        except OSError as exc:
            raise MetricsListenError(self.bind, self.port, exc.strerror or str(exc)) from None
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    def answer(self, head: bytes) -> bytes:
        """The full response to a request head (request line + headers)."""
        parts = head.split(b"\r\n", 1)[0].split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return _response("400 Bad Request", b"bad request line\n", "text/plain")
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if target != b"/metrics":
            return _response("404 Not Found", b"only /metrics is served here\n",
                             "text/plain")
        if method not in (b"GET", b"HEAD"):
            return _response("405 Method Not Allowed", b"use GET\n", "text/plain")
        return _response("200 OK", generate_latest(self.registry), CONTENT_TYPE_LATEST,
                         head=method == b"HEAD")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients += 1
        try:
            if self._clients > limits.METRICS_CLIENTS_MAX:
                return
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                              limits.METRICS_READ_TIMEOUT_S)
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ConnectionError):
                return
            writer.write(self.answer(head))
            with contextlib.suppress(ConnectionError):
                await asyncio.wait_for(writer.drain(), limits.METRICS_READ_TIMEOUT_S)
        except TimeoutError:
            pass
        finally:
            self._clients -= 1
            writer.close()
