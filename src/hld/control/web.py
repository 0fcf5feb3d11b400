"""The control plane's HTTP API (and, later, the dashboard it serves).

    GET  /api/state                 components, proxies, topology, URLs
    GET  /api/events                the event log (faults, failovers, policy switches)
    POST /api/faults                {"component": "app-1", "action": "kill", ...}
    POST /api/policy                {"policy": "balance", "value": "p2c", ...}
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hld.control.plane import ControlError, ControlPlane

BODY_BYTES_MAX = 64 * 1024


def create_app(plane: ControlPlane) -> Starlette:
    async def state(request: Request) -> JSONResponse:
        return JSONResponse({
            "components": plane.supervisor.describe(),
            "proxies": [p.describe() for p in plane.proxies.values()],
            "primary": plane.primary, "replica": plane.replica, "urls": plane.urls(),
        })

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
        Route("/api/state", state), Route("/api/events", events),
        Route("/api/faults", faults, methods=["POST"]),
        Route("/api/policy", policy, methods=["POST"]),
    ])
