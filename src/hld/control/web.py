"""The control plane's HTTP side: the live dashboard and its API.

    GET  /                          the dashboard (block diagram, charts, event log)
    GET  /api/state                 components, proxies, topology, URLs
    GET  /api/snapshot              the latest metrics snapshot (``observe``)
    GET  /api/stream                Server-Sent Events: one snapshot per second
    GET  /api/events                the event log (faults, failovers, policy switches)
    POST /api/faults                {"component": "app-1", "action": "kill", ...}
    POST /api/policy                {"policy": "balance", "value": "p2c", ...}
    GET  /metrics                   Prometheus: the control plane's view of every component,
                                    including the stores' INFO figures (hld-store speaks
                                    RESP only, so this is its exporter, as redis_exporter is
                                    for redis-server)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hld.control.plane import FAULT_ACTIONS, POLICY_KINDS, ControlError, ControlPlane

BODY_BYTES_MAX = 64 * 1024
STREAM_CLIENTS_MAX = 64     # dashboards open at once; more get 503
STREAM_PERIOD_S = 1.0


def create_app(plane: ControlPlane) -> Starlette:
    streams = 0

    async def page(request: Request) -> HTMLResponse:
        html = resources.files("hld.control").joinpath("static/dashboard.html").read_text()
        return HTMLResponse(html)

    async def state(request: Request) -> JSONResponse:
        return JSONResponse({
            "components": plane.supervisor.describe(),
            "proxies": [p.describe() for p in plane.proxies.values()],
            "primary": plane.primary, "replica": plane.replica, "urls": plane.urls(),
            "fault_actions": list(FAULT_ACTIONS), "policies": list(POLICY_KINDS),
        })

    async def snapshot(request: Request) -> JSONResponse:
        return JSONResponse(plane.collector.latest or await plane.collector.snapshot())

    async def stream(request: Request) -> StreamingResponse | JSONResponse:
        nonlocal streams
        if streams >= STREAM_CLIENTS_MAX:
            return JSONResponse({"error": "too many dashboards open"}, status_code=503)

        async def events() -> AsyncIterator[bytes]:
            nonlocal streams
            streams += 1
            try:
                yield b"retry: 1000\n\n"
                while not await request.is_disconnected():
                    data = json.dumps(plane.collector.latest, default=str)
                    yield f"data: {data}\n\n".encode()
                    await asyncio.sleep(STREAM_PERIOD_S)
            finally:
                streams -= 1

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-store"})

    async def events(request: Request) -> JSONResponse:
        return JSONResponse({"events": list(plane.events)})

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > BODY_BYTES_MAX:
            raise ControlError("request body too large")
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise ControlError("request body must be JSON") from None
        if not isinstance(data, dict):
            raise ControlError("request body must be a JSON object")
        return data

    async def faults(request: Request) -> JSONResponse:
        try:
            data = await body(request)
            target = str(data.pop("component", ""))
            action = str(data.pop("action", ""))
            return JSONResponse(await plane.fault(target, action, **data))
        except ControlError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def policy(request: Request) -> JSONResponse:
        try:
            data = await body(request)
            kind = str(data.pop("policy", ""))
            value = str(data.pop("value", ""))
            return JSONResponse(await plane.switch(kind, value, **data))
        except ControlError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(exposition(plane.collector.latest), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[
        Route("/metrics", metrics),
        Route("/", page), Route("/api/state", state), Route("/api/snapshot", snapshot),
        Route("/api/stream", stream), Route("/api/events", events),
        Route("/api/faults", faults, methods=["POST"]),
        Route("/api/policy", policy, methods=["POST"]),
    ])


# (metric name, help, component field) exported per component from the latest snapshot
COMPONENT_GAUGES = (
    ("hld_component_requests_per_second", "Requests per second seen by the gateway", "rps"),
    ("hld_component_error_percent", "Share of failed requests or upstream attempts",
     "error_pct"),
    ("hld_component_latency_p50_ms", "Gateway p50 latency over the last seconds", "p50_ms"),
    ("hld_component_latency_p99_ms", "Gateway p99 latency over the last seconds", "p99_ms"),
    ("hld_store_ops_per_second", "Commands per second (INFO total_commands_processed)",
     "ops"),
    ("hld_store_used_memory_bytes", "INFO used_memory", "used_memory"),
    ("hld_store_keys", "Keys in db0", "keys"),
    ("hld_store_hit_ratio_percent", "Keyspace hits over hits + misses, last second",
     "hit_ratio_pct"),
    ("hld_store_evicted_keys", "INFO evicted_keys", "evicted_keys"),
    ("hld_store_replication_lag_bytes", "Primary offset minus the replica's",
     "repl_lag_bytes"),
)


def exposition(snapshot: dict[str, Any]) -> bytes:
    """The snapshot as Prometheus text: one gauge family per figure, labelled by component."""
    from prometheus_client import generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import CollectorRegistry

    components: dict[str, dict[str, Any]] = snapshot.get("components", {})

    class SnapshotCollector:
        def collect(self) -> Any:
            up = GaugeMetricFamily("hld_component_up", "1 when the component is healthy, "
                                   "0.5 degraded, 0 down", labels=["component", "kind"])
            for name, c in components.items():
                up.add_metric([name, str(c.get("kind", ""))],
                              {"up": 1.0, "degraded": 0.5}.get(str(c.get("health")), 0.0))
            yield up
            for metric, text, key in COMPONENT_GAUGES:
                family = GaugeMetricFamily(metric, text, labels=["component"])
                for name, c in components.items():
                    value = c.get(key)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        family.add_metric([name], float(value))
                yield family
            queue = snapshot.get("queue", {})
            for key in ("depth", "pending", "lag"):
                if isinstance(queue.get(key), int | float):
                    family = GaugeMetricFamily(f"hld_fanout_queue_{key}",
                                               f"chirp:fanout stream {key}")
                    family.add_metric([], float(queue[key]))
                    yield family

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector())
    return bytes(generate_latest(registry))
