"""The admin port: Prometheus /metrics, /healthz, /status (JSON) and live policy switches.

    GET  /metrics                               Prometheus text exposition
    GET  /healthz                               200 while the worker serves
    GET  /status                                upstreams, servers, breakers, events
    POST /upstreams/NAME/balance?algorithm=ALG  switch the balancing algorithm live
    POST /routes/NAME/rate_limit?rate=R&burst=B change a route's local rate limit live

Low traffic by nature, so it uses asyncio streams; requests and bodies are bounded.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hld.core.limit.gcra import GCRA
from hld.core.limit.keyed import KeyedLimiter
from hld.gateway.config import BALANCERS

if TYPE_CHECKING:
    from hld.gateway.server import Gateway

ADMIN_HEAD_BYTES_MAX = 8192
ADMIN_TIMEOUT_S = 5.0


async def serve_admin(gateway: Gateway, sock: socket.socket) -> asyncio.Server:
    registry = gateway.metrics.registry()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), ADMIN_TIMEOUT_S)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError,
                ConnectionError):
            writer.close()
            return
        try:
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        except ValueError:
            method, target = "", ""
        status, content_type, body = route(gateway, registry, method, target)
        writer.write(f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n"
                     f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                     + body)
        try:
            await writer.drain()
        finally:
            writer.close()

    return await asyncio.start_server(handle, sock=sock, limit=ADMIN_HEAD_BYTES_MAX)


def _json(status: str, value: Any) -> tuple[str, str, bytes]:
    return status, "application/json", json.dumps(value).encode()


def route(gateway: Gateway, registry: Any, method: str, target: str) -> tuple[str, str, bytes]:
    parts = urlsplit(target)
    path = parts.path.rstrip("/") or "/"
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if method == "GET" and path == "/metrics":
        return "200 OK", CONTENT_TYPE_LATEST, generate_latest(registry)
    if method == "GET" and path == "/healthz":
        return _json("200 OK", {"ok": True})
    if method == "GET" and path == "/status":
        return _json("200 OK", gateway.status())
    segments = path.strip("/").split("/")
    if method == "POST" and len(segments) == 3 and segments[0] == "upstreams" \
            and segments[2] == "balance":
        upstream = gateway.upstreams.get(segments[1])
        algorithm = query.get("algorithm", "")
        if upstream is None:
            return _json("404 Not Found", {"error": f"no upstream {segments[1]!r}"})
        if algorithm not in BALANCERS:
            return _json("400 Bad Request", {"error": f"algorithm must be one of "
                                                      f"{', '.join(BALANCERS)}"})
        upstream.switch_balancer(algorithm)
        gateway.event("policy", upstream=upstream.name, balance=algorithm)
        return _json("200 OK", {"upstream": upstream.name, "balance": algorithm})
    if method == "POST" and len(segments) == 3 and segments[0] == "routes" \
            and segments[2] == "rate_limit":
        runtime = next((r for r in gateway.routes if r.name == segments[1]), None)
        if runtime is None or runtime.policy is None or runtime.policy.local is None:
            return _json("404 Not Found", {"error": f"no route {segments[1]!r} with a local "
                                                    "rate limit"})
        try:
            rate = float(query["rate"])
            burst = int(query.get("burst", "1"))
            keys_max = runtime.policy.local.max_keys
            limiter: KeyedLimiter[str] = KeyedLimiter(GCRA(rate, burst), max_keys=keys_max)
        except (KeyError, ValueError) as exc:
            return _json("400 Bad Request", {"error": f"give rate=REQUESTS_PER_S and "
                                                      f"burst=N ({exc})"})
        runtime.policy.local = limiter
        gateway.event("policy", route=runtime.name, rate_per_s=rate, burst=burst)
        return _json("200 OK", {"route": runtime.name, "rate_per_s": rate, "burst": burst})
    return _json("404 Not Found", {"error": f"no admin endpoint {method} {path}"})
