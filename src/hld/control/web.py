"""The control plane's HTTP side: the live dashboard and its API.

    GET  /                          the dashboard (block diagram, charts, event log)
    GET  /api/state                 components, proxies, topology, URLs
    GET  /api/snapshot              the latest metrics snapshot (``observe``)
    GET  /api/stream                Server-Sent Events: one snapshot per second
    GET  /api/events                the event log (faults, failovers, policy switches)
    POST /api/faults                {"component": "app-1", "action": "kill", ...}
    POST /api/policy                {"policy": "balance", "value": "p2c", ...}
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
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

    return Starlette(routes=[
        Route("/", page), Route("/api/state", state), Route("/api/snapshot", snapshot),
        Route("/api/stream", stream), Route("/api/events", events),
        Route("/api/faults", faults, methods=["POST"]),
        Route("/api/policy", policy, methods=["POST"]),
    ])
