"""What the dashboard shows: one snapshot of the whole system per second.

The collector asks each component what it knows, through the same doors clients use,
so a fault on a link shows up here as it would for a client:

* the gateway's admin port: ``/status`` (servers, ejections, breaker, in-flight) and
  ``/metrics`` (requests per route and status, attempts per app server, latency);
* each app server's ``/metrics``, through its public port (the gateway's door, fault
  proxy included): its own request latency histogram, for per-app p50/p99;
* each store over RESP: ``INFO`` (memory, hits/misses, ops, replication offsets), and
  each hld-store node's Prometheus ``/metrics`` for its ops/s (commands processed; a
  redis-server backend has no /metrics, so there the same figure comes from ``INFO``);
* the fan-out queue: ``XLEN`` and ``XINFO GROUPS`` (pending and lag) on the primary;
* the supervisor: which processes run, are paused or dead.

Rates come from differences between consecutive snapshots; latency percentiles from the
difference between a histogram now and ``LATENCY_WINDOW`` snapshots ago. Every scrape has
a short timeout and they run concurrently; a component that does not answer is reported
``down`` (an app's percentiles as unknown), never waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hld.control.plane import ControlPlane

SCRAPE_TIMEOUT_S = 0.5
LONG_LIVED_ROUTES = ("stream",)  # SSE streams last minutes; not request latency
GATEWAY_EVENTS_SEEN_MAX = 500   # gateway events already copied into the event log
LATENCY_WINDOW = 5          # snapshots (~1 s apart) behind the dashboard's p50/p99
FANOUT_STREAM = "chirp:fanout"
APP_LATENCY_METRIC = "chirp_http_request_seconds_bucket"
APP_LONG_LIVED_ROUTES = ("/api/stream",)  # the app's SSE route: minutes, not latency
STORE_OPS_METRICS = ("hld_store_commands_processed_total", "hld_store_commands_processed")


def store_client(host: str, port: int, timeout_s: float) -> Any:
    """A RESP client that answers or fails within ``timeout_s``: no retries (redis-py's
    default retries three times with backoff, which hid a dead primary for seconds)."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return redis.asyncio.Redis(host=host, port=port, socket_timeout=timeout_s,
                               socket_connect_timeout=timeout_s,
                               retry=Retry(NoBackoff(), 0))


def _counter_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    samples: list[tuple[str, dict[str, str], float]] = []
    with contextlib.suppress(ValueError):
        for family in text_string_to_metric_families(text):
            samples.extend((s.name, s.labels, s.value) for s in family.samples)
    return samples


def _quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Quantile ``q`` of a Prometheus histogram (cumulative ``(le, count)`` pairs, sorted).

    As PromQL's ``histogram_quantile``: find the bucket holding rank ``q * total`` and
    interpolate linearly inside it (the first bucket starts at 0). A rank in the +Inf
    bucket is reported as the largest finite bound, since nothing better is known.
    None when the window holds no observations.
    """
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank and count > lower_count:
            if bound == float("inf"):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count)
        if bound != float("inf"):
            lower_bound = bound
        lower_count = count
    return lower_bound


def _window(old: list[tuple[float, float]] | None,
            new: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The observations between two cumulative histograms (the gateway restarted: all)."""
    if old is None or len(old) != len(new) or any(
            o[0] != n[0] or o[1] > n[1] for o, n in zip(old, new, strict=True)):
        return new
    return [(bound, count - before[1]) for (bound, count), before in zip(new, old, strict=True)]


class Collector:
    """Builds snapshots; keeps the previous counters to turn them into rates."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.previous: dict[str, float] = {}
        self.previous_at = 0.0
        self.latest: dict[str, Any] = {}
        # Cumulative latency histograms of the last few snapshots: p50/p99 describe the
        # last seconds, not everything since the gateway started.
        self.gateway_events_seen: deque[str] = deque(maxlen=GATEWAY_EVENTS_SEEN_MAX)
        self.latency_history: deque[list[tuple[float, float]]] = deque(
            maxlen=LATENCY_WINDOW + 1)
        self.app_latency_history: dict[str, deque[list[tuple[float, float]]]] = {}

    def _rate(self, key: str, value: float, now: float) -> float:
        old = self.previous.get(key)
        self.previous[key] = value
        elapsed = now - self.previous_at
        if old is None or elapsed <= 0 or value < old:
            return 0.0
        return (value - old) / elapsed

    async def snapshot(self) -> dict[str, Any]:
        now = time.monotonic()
        plane = self.plane
        components: dict[str, dict[str, Any]] = {}
        for row in plane.supervisor.describe():
            proxy = plane.proxies.get(row["name"])
            faults = ({k: v for k, v in proxy.describe()["faults"].items() if v}  # type: ignore[attr-defined]
                      if proxy is not None else {})
            state = row["state"]
            health = "up" if state == "running" else "down"
            if health == "up" and faults:
                health = "degraded"
            components[row["name"]] = {"kind": row["kind"], "state": state, "pid": row["pid"],
                                       "health": health, "faults": faults,
                                       "restarts": row["restarts"]}
        gateway, stores, _ = await asyncio.gather(self._gateway(now, components),
                                                  self._stores(now, components),
                                                  self._apps(components))
        snapshot = {"ts": time.time(), "components": components, "gateway": gateway,
                    "primary": plane.primary, "replica": plane.replica,
                    "events": list(plane.events)[-50:], **stores}
        self.previous_at = now
        self.latest = snapshot
        return snapshot

    async def _gateway(self, now: float, components: dict[str, dict[str, Any]]
                       ) -> dict[str, Any]:
        import httpx

        cfg = self.plane.config
        admin = f"http://{self.plane.host}:{cfg.gateway.admin_port}"
        out: dict[str, Any] = {}
        try:
            async with httpx.AsyncClient(timeout=SCRAPE_TIMEOUT_S) as client:
                status, metrics = await asyncio.gather(client.get(f"{admin}/status"),
                                                       client.get(f"{admin}/metrics"))
            status_json = status.json()
            samples = _counter_samples(metrics.text)
        except (httpx.HTTPError, ValueError):
            if "gateway" in components:
                components["gateway"]["health"] = "down"
            return out
        total = errors = limited = 0.0
        buckets: dict[float, float] = {}
        per_server: dict[str, list[float]] = {}
        for name, labels, value in samples:
            if name == "hld_gateway_requests_total":
                total += value
                status_code = int(labels.get("status", "0"))
                if status_code >= 500:
                    errors += value
                if status_code == 429:
                    limited += value
            elif name == "hld_gateway_request_duration_seconds_bucket" and \
                    labels.get("route") not in LONG_LIVED_ROUTES:
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + value
            elif name == "hld_gateway_upstream_attempts_total":
                entry = per_server.setdefault(labels["server"], [0.0, 0.0])
                entry[0] += value
                if labels.get("outcome") == "error":
                    entry[1] += value
        p50_ms, p99_ms = self._windowed_quantiles(self.latency_history, buckets)
        rps = self._rate("gw.total", total, now)
        error_rate = self._rate("gw.errors", errors, now)
        gw = components.get("gateway")
        if gw is not None:
            gw.update(rps=round(rps, 1), p50_ms=p50_ms, p99_ms=p99_ms,
                      error_pct=round(100 * error_rate / rps, 1) if rps else 0.0,
                      limited_rps=round(self._rate("gw.429", limited, now), 1))
        self._copy_gateway_events(status_json.get("events", []))
        app = status_json.get("upstreams", {}).get("app", {})
        servers = {s["server"]: s for s in app.get("servers", [])}
        for i, port in enumerate(cfg.app_ports, 1):
            name = f"app-{i}"
            url = f"http://{self.plane.host}:{port}"
            calls, fails = per_server.get(url, [0.0, 0.0])
            server = servers.get(url, {})
            app_rps = self._rate(f"{name}.calls", calls, now)
            app_err = self._rate(f"{name}.fails", fails, now)
            if name in components:
                components[name].update(
                    rps=round(app_rps, 1),
                    error_pct=round(100 * app_err / app_rps, 1) if app_rps else 0.0,
                    ejected=bool(server.get("ejected")),
                    in_flight=server.get("in_flight", 0))
                if server.get("ejected") or server.get("available") is False:
                    components[name]["health"] = ("down" if components[name]["health"] == "down"
                                                  else "degraded")
        out["breaker"] = app.get("breaker")
        out["balance"] = app.get("balance")
        out["requests_total"] = total
        return out

    def _windowed_quantiles(self, history: deque[list[tuple[float, float]]],
                            buckets: dict[float, float]) -> tuple[float | None, float | None]:
        """(p50, p99) in ms over the last LATENCY_WINDOW snapshots of ``history``."""
        ordered = sorted(buckets.items())
        history.append(ordered)
        recent = _window(history[0] if len(history) > 1 else None, ordered)
        p50_s, p99_s = _quantile(recent, 0.5), _quantile(recent, 0.99)
        return (None if p50_s is None else round(p50_s * 1000, 1),
                None if p99_s is None else round(p99_s * 1000, 1))

    async def _apps(self, components: dict[str, dict[str, Any]]) -> None:
        """Each app server's own p50/p99 (its handler time, without the gateway's hop)."""
        import httpx

        async def one(client: httpx.AsyncClient, name: str, port: int) -> None:
            entry = components.get(name)
            if entry is None:
                return
            history = self.app_latency_history.setdefault(
                name, deque(maxlen=LATENCY_WINDOW + 1))
            try:
                reply = await client.get(f"http://{self.plane.host}:{port}/metrics")
                samples = _counter_samples(reply.text)
            except httpx.HTTPError:
                history.clear()  # a restarted app starts its histogram again
                entry.update(p50_ms=None, p99_ms=None)
                return
            buckets: dict[float, float] = {}
            for sample, labels, value in samples:
                if sample == APP_LATENCY_METRIC and \
                        labels.get("route") not in APP_LONG_LIVED_ROUTES:
                    bound = float(labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + value
            p50_ms, p99_ms = self._windowed_quantiles(history, buckets)
            entry.update(p50_ms=p50_ms, p99_ms=p99_ms)

        async with httpx.AsyncClient(timeout=SCRAPE_TIMEOUT_S) as client:
            await asyncio.gather(*(one(client, f"app-{i}", port) for i, port
                                   in enumerate(self.plane.config.app_ports, 1)))

    async def _store_ops_total(self, port: int) -> float | None:
        """Commands processed so far, from an hld-store node's /metrics; None if unknown."""
        import httpx

        try:
            async with httpx.AsyncClient(timeout=SCRAPE_TIMEOUT_S) as client:
                reply = await client.get(f"http://{self.plane.host}:{port}/metrics")
        except httpx.HTTPError:
            return None
        for sample, _, value in _counter_samples(reply.text):
            if sample in STORE_OPS_METRICS:
                return value
        return None

    def _copy_gateway_events(self, events: list[dict[str, Any]]) -> None:
        """Breaker transitions, ejections, readmissions and 429 spikes join the event log."""
        for record in events:
            if not isinstance(record, dict) or "kind" not in record:
                continue
            key = json.dumps(record, sort_keys=True, default=str)
            if key in self.gateway_events_seen:
                continue
            self.gateway_events_seen.append(key)
            fields = {k: v for k, v in record.items() if k not in ("ts", "kind")}
            self.plane.event(str(record["kind"]), source="gateway", **fields)

    async def _stores(self, now: float, components: dict[str, dict[str, Any]]
                      ) -> dict[str, Any]:
        import redis.asyncio

        cfg = self.plane.config
        ports = {"store-primary": cfg.store.primary_port,
                 "store-replica": cfg.store.replica_port, "cache": cfg.cache.port}
        offsets: dict[str, int] = {}
        queue: dict[str, Any] = {}

        metrics_ports = cfg.store_metrics_ports

        async def one(name: str, port: int) -> None:
            client = store_client(self.plane.host, port, SCRAPE_TIMEOUT_S)
            try:
                ops_total = None
                if name in metrics_ports:
                    info, ops_total = await asyncio.gather(
                        client.info("all"), self._store_ops_total(metrics_ports[name]))
                else:
                    info = await client.info("all")
                entry = components.get(name)
                if entry is None:
                    return
                hits = float(info.get("keyspace_hits", 0))
                misses = float(info.get("keyspace_misses", 0))
                hit_rate = self._rate(f"{name}.hits", hits, now)
                miss_rate = self._rate(f"{name}.misses", misses, now)
                source = "metrics" if ops_total is not None else "info"
                if ops_total is None:
                    ops_total = float(info.get("total_commands_processed", 0))
                ops = self._rate(f"{name}.ops.{source}", ops_total, now)
                entry.update(
                    role=info.get("role"), ops=round(ops, 1), ops_source=source,
                    used_memory=info.get("used_memory"), keys=_keys(info),
                    hit_ratio_pct=(round(100 * hit_rate / (hit_rate + miss_rate), 1)
                                   if hit_rate + miss_rate else None),
                    evicted_keys=info.get("evicted_keys"))
                offset = info.get("master_repl_offset", info.get("slave_repl_offset"))
                if offset is not None:
                    offsets[name] = int(offset)
                if name == self.plane.primary:
                    with contextlib.suppress(redis.RedisError):
                        queue["depth"] = await client.xlen(FANOUT_STREAM)
                        groups = await client.xinfo_groups(FANOUT_STREAM)
                        queue["pending"] = sum(int(g.get("pending", 0)) for g in groups)
                        queue["lag"] = sum(int(g.get("lag") or 0) for g in groups)
            except (OSError, redis.RedisError):
                if name in components:
                    components[name]["health"] = "down"
            finally:
                await client.aclose()

        await asyncio.gather(*(one(name, port) for name, port in ports.items()))
        primary, replica = self.plane.primary, self.plane.replica
        if replica is not None and primary in offsets and replica in offsets \
                and replica in components:
            components[replica]["repl_lag_bytes"] = max(0, offsets[primary] - offsets[replica])
        return {"queue": queue}


def _keys(info: dict[str, Any]) -> int:
    db0 = info.get("db0")
    if isinstance(db0, dict):
        return int(db0.get("keys", 0))
    return 0
