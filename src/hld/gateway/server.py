"""The gateway process: shared state of one worker, listeners, workers and shutdown.

``Gateway`` holds what every connection of a worker shares: routes (host, then the
longest path prefix wins), upstream pools, policies, metrics, the access log and the
event log. ``serve`` binds the listeners once in the parent and forks ``workers``
processes that accept on the same sockets, each with its own event loop (uvloop).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import random
import re
import signal
import socket
import ssl
import sys
import time
from collections import deque
from collections.abc import Callable, Coroutine
from json.encoder import encode_basestring_ascii
from typing import IO, Any

from hld.core.resilience import DEADLINE_HEADER
from hld.core.resilience.limits import DEADLINE_HEADER_DIGITS_MAX
from hld.gateway import limits
from hld.gateway.cache import ResponseCache
from hld.gateway.config import GatewayConfig, Listener, Route
from hld.gateway.http import HOP_BY_HOP, Refusal, RequestHead
from hld.gateway.metrics import GatewayMetrics
from hld.gateway.policy import (
    IDENTITY_HEADERS,
    OpaqueTokens,
    RoutePolicy,
    VerifiedTokens,
    load_verifier,
)
from hld.gateway.proxy import BODY, HEAD, IDLE, ClientConnection, Exchange
from hld.gateway.upstream import UpstreamPool

_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_TRACEPARENT = re.compile(rb"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
# Headers the gateway owns: incoming copies are dropped before forwarding.
_OWN_HEADERS = frozenset({
    b"x-request-id", b"traceparent", b"x-forwarded-for", b"x-forwarded-proto",
    b"x-forwarded-host", b"x-real-ip", b"forwarded", DEADLINE_HEADER.encode(), b"expect",
    *IDENTITY_HEADERS,
})
_NOT_FORWARDED = HOP_BY_HOP | _OWN_HEADERS | {b"content-length"}
_DEADLINE_MS_MAX = 10 ** DEADLINE_HEADER_DIGITS_MAX - 1
# Methods whose requests always carry a Content-Length upstream, even an empty one.
_BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})
EVENTS_MAX = 1000  # the event log the dashboard reads is a bounded ring
ACCESS_LOG_BUFFER_BYTES = 64 * 1024
# Access records wait as tuples and become JSON lines at flush time (once a second, or
# when this many are pending): formatting is most of a log line's cost, and batching
# it keeps it out of the request path. A small batch, because the requests that arrive
# while one is formatted wait for it (512 made the p99 of `hld bench gateway`'s
# policies run 1.4x that of 64: 10.8 ms against 7.8).
ACCESS_LOG_PENDING_MAX = 64
ACCESS_FRAGMENTS_MAX = 1024  # remembered access-line fragments (cleared when full)


class RouteRuntime:
    """A configured route with its live objects."""

    __slots__ = ("cache", "config", "gzip", "host", "methods", "name", "policy", "prefix",
                 "rewrite", "timeout_s", "upstream")

    def __init__(self, config: Route, upstream: UpstreamPool, policy: RoutePolicy | None,
                 cache: ResponseCache | None) -> None:
        self.config = config
        self.name = config.name
        self.host = config.host.lower().encode() if config.host else None
        self.prefix = config.prefix.encode()
        self.rewrite = config.rewrite.encode() if config.rewrite is not None else None
        self.upstream = upstream
        self.policy = policy if policy is not None and policy.active else None
        self.cache = cache
        self.methods = config.methods
        self.timeout_s = config.timeout_s or upstream.config.timeout_s
        self.gzip = config.gzip

    def matches(self, host: bytes, path: bytes) -> bool:
        if self.host is not None and self.host != host:
            return False
        prefix = self.prefix
        if not path.startswith(prefix):
            return False
        return (prefix.endswith(b"/") or len(path) == len(prefix)
                or path[len(prefix):len(prefix) + 1] == b"/")


class Gateway:
    """Everything one worker process shares between its connections."""

    def __init__(self, config: GatewayConfig, *, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, log: IO[str] | None = None,
                 worker: int = 0) -> None:
        self.config = config
        self.clock = clock
        self.wall = wall
        self.worker = worker
        self.log_stream = log if log is not None else sys.stdout
        # Formatted lines (str) and access records not yet formatted (tuple), in order.
        self.log_buffer: list[str | tuple[Any, ...]] = []
        # See _access_line: the constant start of an access line after its time, and
        # the fragments after the duration by the details they were made from.
        self.access_prefix = (f'"level":"info","event":"request","component":"gateway",'
                              f'"worker":{worker},')
        self.access_fragments: dict[tuple[Any, ...], str] = {}
        self.log_bytes = 0
        # Set by start(), inside the worker's running loop; --check builds a Gateway with
        # no loop at all (asking for one there fails after an earlier asyncio.run()).
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.upstreams = {name: UpstreamPool(cfg, clock=clock)
                          for name, cfg in config.upstreams.items()}
        verifier = load_verifier(config.jwt, config.source) if config.jwt else None
        opaque = (OpaqueTokens(config.opaque.url, config.opaque.prefix, config.opaque.cache_s)
                  if config.opaque else None)
        verified = VerifiedTokens(config.jwt.leeway_s) if config.jwt else None
        routes = []
        for route in config.routes:
            policy = RoutePolicy(route, config, verifier=verifier, opaque=opaque, wall=wall,
                                 verified=verified)
            cache = ResponseCache(route.cache) if route.cache is not None else None
            routes.append(RouteRuntime(route, self.upstreams[route.upstream], policy, cache))
        # Host-specific routes first, then the longest prefix.
        routes.sort(key=lambda r: (r.host is None, -len(r.prefix)))
        self.routes = routes
        self.trusted = [ipaddress.ip_network(n, strict=False) for n in config.trusted_proxies]
        self.connections: set[ClientConnection] = set()
        self.metrics = GatewayMetrics()
        self.metrics.gauges["hld_gateway_upstream_server_up"] = self._health_gauge
        self.metrics.gauges["hld_gateway_breaker_open"] = self._breaker_gauge
        self.metrics.gauges["hld_gateway_client_connections"] = lambda: [
            ({}, float(len(self.connections)))]
        self.events: deque[dict[str, Any]] = deque(maxlen=EVENTS_MAX)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.breaker_states: dict[str, str] = {}
        self.ejected: dict[str, set[str]] = {name: set() for name in self.upstreams}
        self.limited_at: dict[str, float] = {}
        self.sweeper: asyncio.TimerHandle | None = None
        # Exchanges waiting on an upstream attempt, checked against their deadline_at
        # every DEADLINE_TICK_S while any are waiting (see watch_deadline).
        self.deadlines: set[Exchange] = set()
        self.deadline_timer: asyncio.TimerHandle | None = None
        # Request and span ids: unique, not secret, so a PRNG seeded from the OS per
        # worker (the Gateway is built after the fork) instead of a syscall per id.
        self.ids = random.Random(os.urandom(16))
        # Once a second, or often enough that a short timeout is not overshot by much.
        t = config.timeouts
        self.sweep_interval_s = max(0.05, min(1.0, t.header_s / 4, t.body_idle_s / 4))

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        for upstream in self.upstreams.values():
            upstream.start_health_checks()
        self.sweeper = self.loop.call_later(self.sweep_interval_s, self.sweep)

    def loop_time(self) -> float:
        return self.clock()

    def register(self, conn: ClientConnection) -> bool:
        if len(self.connections) >= limits.CLIENT_CONNECTIONS_MAX:
            self.metrics.rejected("gateway", "connections")
            return False
        self.connections.add(conn)
        return True

    def unregister(self, conn: ClientConnection) -> None:
        self.connections.discard(conn)

    def sweep(self) -> None:
        """Once a second: time out idle, slow-header and slow-body clients; flush logs."""
        now = self.clock()
        timeouts = self.config.timeouts
        for conn in list(self.connections):
            state = conn.state
            if state == IDLE and now - conn.since > timeouts.keepalive_s:
                conn.close()
            elif state == HEAD and now - conn.since > timeouts.header_s:
                conn.timed_out("request head")
            elif state == BODY and (now - conn.body_last > timeouts.body_idle_s
                                    or now - conn.since > timeouts.body_s):
                conn.timed_out("request body")
        for upstream in self.upstreams.values():
            self._note_health(upstream)
        self.flush_log()
        self.sweeper = self.loop.call_later(self.sweep_interval_s, self.sweep)

    def watch_deadline(self, exchange: Exchange) -> None:
        """Answer 504 for ``exchange`` once its deadline passes, unless it ends first
        (``Exchange.finish``/``cancel_timer`` drop it from the set). One timer for all
        exchanges, at most DEADLINE_TICK_S late, instead of one timer per request."""
        self.deadlines.add(exchange)
        if self.deadline_timer is None:
            self.deadline_timer = self.loop.call_later(limits.DEADLINE_TICK_S,
                                                       self._check_deadlines)

    def _check_deadlines(self) -> None:
        self.deadline_timer = None
        deadlines = self.deadlines
        now = self.clock()
        for exchange in [e for e in deadlines if e.deadline_at <= now]:
            deadlines.discard(exchange)
            exchange.deadline_passed()
        if deadlines and self.deadline_timer is None:
            self.deadline_timer = self.loop.call_later(limits.DEADLINE_TICK_S,
                                                       self._check_deadlines)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def close(self, grace_s: float = 5.0) -> None:
        deadline = self.clock() + grace_s
        while any(c.exchange is not None for c in self.connections) and self.clock() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(self.connections):
            conn.close()
        for upstream in self.upstreams.values():
            upstream.close()
        if self.sweeper is not None:
            self.sweeper.cancel()
        if self.deadline_timer is not None:
            self.deadline_timer.cancel()
            self.deadline_timer = None
        self.flush_log()

    # -- routing and forwarding ---------------------------------------------------------

    def match(self, host: bytes, path: bytes) -> RouteRuntime | None:
        bare = host.rsplit(b":", 1)[0] if host.count(b":") == 1 else host
        for route in self.routes:
            # RouteRuntime.matches inlined: this loop runs for every request.
            if route.host is not None and route.host != bare:
                continue
            prefix = route.prefix
            if not path.startswith(prefix):
                continue
            if (prefix.endswith(b"/") or len(path) == len(prefix)
                    or path[len(prefix):len(prefix) + 1] == b"/"):
                return route
        return None

    def new_request_id(self) -> str:
        return f"{self.ids.getrandbits(64):016x}"

    def request_id_for(self, head: RequestHead) -> str:
        incoming = head.request_id
        if incoming is not None and _REQUEST_ID.fullmatch(incoming):
            return incoming.decode()
        return f"{self.ids.getrandbits(64):016x}"

    def traceparent_for(self, head: RequestHead) -> str:
        """Continue a valid W3C trace (new span id for our hop) or start one."""
        incoming = head.traceparent
        if incoming is not None:
            match = _TRACEPARENT.fullmatch(incoming.strip())
            if match and match.group(1) != b"0" * 32 and match.group(2) != b"0" * 16:
                trace, flags = match.group(1).decode(), match.group(3).decode()
                return f"00-{trace}-{self.ids.getrandbits(64):016x}-{flags}"
        return f"00-{self.ids.getrandbits(128):032x}-{self.ids.getrandbits(64):016x}-01"

    def client_address(self, exchange: Exchange) -> str:
        """The socket peer, or X-Forwarded-For counted from the right past trusted proxies."""
        peer = exchange.client.peer
        if not self.trusted or not self._trusted(peer):
            return peer
        forwarded = [h for n, h in exchange.head.headers if n == b"x-forwarded-for"]
        hops = [p.strip().decode("latin-1") for v in forwarded for p in v.split(b",")]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted)

    def upstream_request(self, exchange: Exchange, now: float) -> bytes:
        """The request head (and body) sent upstream."""
        head = exchange.head
        client = exchange.client
        # The request line and the forwarded header lines depend only on the head, its
        # route (itself a function of the head) and the connection (its peer and TLS):
        # they are kept on the connection for the head it saw last, which a keep-alive
        # client sending the same request again hands back as the very same object.
        if head is client.forward_head:
            start = client.forward_start
        else:
            start = self._request_start(exchange)
            if len(start) <= limits.REPEAT_BYTES_MAX:  # no copies of large heads
                client.forward_head = head
                client.forward_start = start
        # Whole milliseconds left, rounded down (int() floors a non-negative float).
        deadline_ms = int((exchange.deadline_at - now) * 1000.0)
        if not 0 <= deadline_ms <= _DEADLINE_MS_MAX:
            deadline_ms = 0 if deadline_ms < 0 else _DEADLINE_MS_MAX
        own = (f"x-request-id: {exchange.request_id}\r\ntraceparent: {exchange.traceparent}"
               f"\r\n{DEADLINE_HEADER}: {deadline_ms}\r\n").encode()
        identity = exchange.identity
        body = exchange.body
        sized = body or head.method in _BODY_METHODS
        if identity is None and not sized:
            return start + own + b"\r\n"
        return b"".join((
            start, own, identity.header_block if identity is not None else b"",
            b"content-length: %d\r\n" % len(body) if sized else b"", b"\r\n", body))

    def _request_start(self, exchange: Exchange) -> bytes:
        """The request line (the target rewritten for the route) and the forwarded
        header lines of an exchange's head."""
        head = exchange.head
        route = exchange.route
        assert route is not None
        target = head.target
        if route.rewrite is not None and target.startswith(route.prefix):
            rest = target[len(route.prefix):]
            if route.rewrite.endswith(b"/") and rest.startswith(b"/"):
                rest = rest[1:]
            target = route.rewrite + rest
            if not target.startswith(b"/"):
                target = b"/" + target
        client = exchange.client
        headers = head.headers
        # A client browsing tends to repeat its header list under new targets: the
        # last block is kept on the connection and reused while the list is equal (one
        # C-level comparison instead of a loop over the headers).
        if headers == client.forward_key:
            block = client.forward_block
        else:
            block = self._forwarded_block(head, client)
            client.forward_key = headers
            client.forward_block = block
        return head.method + b" " + target + b" HTTP/1.1\r\n" + block

    def _forwarded_block(self, head: RequestHead, client: ClientConnection) -> bytes:
        """The client's headers that go upstream, then X-Forwarded-For and -Proto."""
        forwarded_for = client.peer
        lines: list[bytes] = []
        append = lines.append
        for name, value in head.headers:
            if name in _NOT_FORWARDED:
                if name == b"x-forwarded-for" and self.trusted and self._trusted(client.peer):
                    forwarded_for = value.decode("latin-1") + ", " + client.peer
                continue
            append(name + b": " + value + b"\r\n")
        if head.upgrade == b"websocket":
            append(b"connection: upgrade\r\nupgrade: websocket\r\n")
        append(f"x-forwarded-for: {forwarded_for}\r\n"
               f"x-forwarded-proto: {'https' if client.tls else 'http'}\r\n".encode())
        return b"".join(lines)

    # -- logs and events -----------------------------------------------------------------

    def _log(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")) + "\n"
        self.log_buffer.append(line)
        self.log_bytes += len(line)
        if self.log_bytes > ACCESS_LOG_BUFFER_BYTES:
            self.flush_log()

    def flush_log(self) -> None:
        if self.log_buffer:
            text = "".join(entry if isinstance(entry, str) else self._access_line(entry)
                           for entry in self.log_buffer)
            with contextlib.suppress(OSError, ValueError):
                self.log_stream.write(text)
                self.log_stream.flush()
            self.log_buffer = []
            self.log_bytes = 0

    def _access_line(self, entry: tuple[Any, ...]) -> str:
        """The JSON line of one access record, written out by hand: the document
        ``json.dumps`` would write, at a fraction of the cost.

        What varies with every request (time, ids, duration) is formatted each time;
        the rest of the line is a function of the record's ``details`` tuple, which
        repeats (the same client asking the same path with the same outcome), and is
        kept in a bounded table. Times print as fixed-point decimals from integer
        microseconds (rounding and printing floats was the dearest part). The request
        and trace ids need no JSON escape: they are generated hex or passed
        ``_REQUEST_ID``/``_TRACEPARENT``.
        """
        wall_s, request_id, traceparent, duration_s, details = entry
        fragment = self.access_fragments.get(details)
        if fragment is None:
            fragment = self._access_fragment(details)
        wall_us = round(wall_s * 1e6)
        duration_us = max(0, round(duration_s * 1e6))
        return (f'{{"ts":{wall_us // 1_000_000}.{wall_us % 1_000_000:06d},'
                f'{self.access_prefix}"request_id":"{request_id}",'
                f'"traceparent":"{traceparent}",'
                f'"duration_ms":{duration_us // 1000}.{duration_us % 1000:03d},{fragment}}}\n')

    def _access_fragment(self, details: tuple[Any, ...]) -> str:
        """The part of an access line after the duration, remembered by its details.
        Strings from outside (path, route, subject, reason) go through json's own
        escaper; the peer (an address from the socket) and the method (from llhttp's
        table) need none."""
        peer, method, target, route, status, size, attempts, subject, reason = details
        quote = encode_basestring_ascii
        fragment = (f'"client":"{peer}","method":"{method.decode()}",'
                    f'"path":{quote(target.decode("latin-1")[:512])},'
                    f'"route":{"null" if route is None else quote(route)},"status":{status},'
                    f'"bytes":{size},"attempts":{attempts}')
        if subject is not None:
            fragment += f',"subject":{quote(subject)}'
        if reason:
            fragment += f',"reason":{quote(reason)}'
        fragments = self.access_fragments
        if len(fragments) >= ACCESS_FRAGMENTS_MAX:
            fragments.clear()
        fragments[details] = fragment
        return fragment

    def access_log(self, exchange: Exchange, status: int, reason: str,
                   duration_s: float) -> None:
        """Log an exchange that ended (when access logs are on: the caller checks)."""
        route = exchange.route
        identity = exchange.identity
        buffer = self.log_buffer
        buffer.append((self.wall(), exchange.request_id, exchange.traceparent, duration_s, (
            exchange.client.peer, exchange.method, exchange.head.target,
            route.name if route else None, status, exchange.response_bytes,
            exchange.attempts, identity.subject if identity is not None else None, reason)))
        if len(buffer) > ACCESS_LOG_PENDING_MAX:
            self.flush_log()

    def log_refusal(self, peer: str, refusal: Refusal, request_id: str) -> None:
        self._log({"ts": round(self.wall(), 6), "level": "warning", "event": "refused",
                   "component": "gateway", "request_id": request_id, "client": peer,
                   "status": refusal.status, "reason": refusal.message})

    def log_error(self, message: str, exc: BaseException, request_id: str) -> None:
        self._log({"ts": round(self.wall(), 6), "level": "error", "event": message,
                   "component": "gateway", "request_id": request_id,
                   "error": f"{type(exc).__name__}: {exc}"})

    def event(self, kind: str, **fields: Any) -> None:
        record = {"ts": round(self.wall(), 3), "kind": kind, **fields}
        self.events.append(record)
        self._log({"level": "warning", "event": kind, "component": "gateway", **record})

    def note_breaker(self, upstream: UpstreamPool) -> None:
        breaker = upstream.breaker
        if breaker is None:
            return
        for change in breaker.drain_events():
            self.event("breaker", upstream=upstream.name, old=change.from_state.value,
                       new=change.to_state.value, trigger=change.trigger.value)
        self.breaker_states[upstream.name] = breaker.state.value

    def _note_health(self, upstream: UpstreamPool) -> None:
        upstream.health.refresh(self.clock())
        now_ejected = {b.name for b in upstream.pool.backends
                       if upstream.health.is_ejected(b.name)
                       or not upstream.health.is_available(b.name)}
        before = self.ejected[upstream.name]
        for name in sorted(now_ejected - before):
            self.event("ejected", upstream=upstream.name, server=name)
        for name in sorted(before - now_ejected):
            self.event("readmitted", upstream=upstream.name, server=name)
        self.ejected[upstream.name] = now_ejected
        if upstream.breaker is not None:
            upstream.breaker.poll(self.clock())
            self.note_breaker(upstream)

    def note_rate_limited(self, route: str) -> None:
        now = self.clock()
        if now - self.limited_at.get(route, -60.0) >= 10.0:  # one event per 10 s per route
            self.limited_at[route] = now
            self.event("rate_limited", route=route)

    def _health_gauge(self) -> list[tuple[dict[str, str], float]]:
        out = []
        for upstream in self.upstreams.values():
            for backend in upstream.pool.backends:
                up = upstream.health.is_available(backend.name)
                out.append(({"upstream": upstream.name, "server": backend.name},
                            1.0 if up else 0.0))
        return out

    def _breaker_gauge(self) -> list[tuple[dict[str, str], float]]:
        return [({"upstream": u.name}, 0.0 if u.breaker is None
                 or u.breaker.state.value == "closed" else 1.0)
                for u in self.upstreams.values()]

    def status(self) -> dict[str, Any]:
        """What the admin API and the dashboard show."""
        upstreams = {}
        for upstream in self.upstreams.values():
            servers = [{"server": backend.name, "weight": backend.weight,
                        "available": upstream.health.is_available(backend.name),
                        "ejected": upstream.health.is_ejected(backend.name),
                        "in_flight": upstream.balancer.in_flight(backend)}
                       for backend in upstream.pool.backends]
            bulkhead = upstream.bulkhead.statistics()
            upstreams[upstream.name] = {
                "balance": type(upstream.balancer).__name__,
                "breaker": upstream.breaker.state.value if upstream.breaker else None,
                "in_flight": bulkhead.in_flight, "queued": bulkhead.queued,
                "servers": servers,
            }
        return {"worker": self.worker, "pid": os.getpid(),
                "connections": len(self.connections), "upstreams": upstreams,
                "metrics": self.metrics.snapshot(), "events": list(self.events)[-100:]}


def tls_context(listener: Listener, data_dir: str) -> ssl.SSLContext | None:
    if listener.tls is None:
        return None
    from hld.gateway.tls import server_context

    return server_context(listener.tls, data_dir, listener.host)


def bind(listener: Listener) -> socket.socket:
    family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listener.host, listener.port))
    except OSError as exc:
        sock.close()
        if exc.errno == 98:
            raise OSError(exc.errno, f"{listener.host}:{listener.port} is already in use "
                                     "(another gateway running?)") from None
        raise
    sock.listen(4096)
    sock.setblocking(False)
    return sock


async def run_worker(config: GatewayConfig, sockets: list[tuple[Listener, socket.socket]],
                     admin: socket.socket | None, worker: int,
                     ready: Callable[[], None] | None = None) -> None:
    """One worker: accept on the shared sockets until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    gateway = Gateway(config, worker=worker)
    gateway.start()
    servers = []
    for listener, sock in sockets:
        context = tls_context(listener, config.data_dir)
        servers.append(await loop.create_server(
            lambda context=context: ClientConnection(gateway, tls=context is not None),
            sock=sock, ssl=context, backlog=4096))
    if admin is not None:
        from hld.gateway.admin import serve_admin

        servers.append(await serve_admin(gateway, admin))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready()
    await stop.wait()
    for server in servers:
        server.close()
    await gateway.close()


def serve(config: GatewayConfig, *, announce: Callable[[str], None] = print) -> int:
    """Bind, fork workers, and wait; the parent forwards SIGTERM/SIGINT to them."""
    Gateway(config)  # build every policy once here, so a bad key fails before binding
    sockets = [(listener, bind(listener)) for listener in config.listeners]
    admin = bind(config.admin) if config.admin is not None else None
    for listener, sock in sockets:
        host, port = sock.getsockname()[:2]
        scheme = "https" if listener.tls else "http"
        announce(f"hld gateway listening on {scheme}://{host}:{port} "
                 f"({config.workers} worker{'s' if config.workers > 1 else ''})")
    if admin is not None:
        host, port = admin.getsockname()[:2]
        announce(f"hld gateway admin on http://{host}:{port}/metrics")
    _install_uvloop()
    if config.workers == 1:
        asyncio.run(run_worker(config, sockets, admin, 0))
        return 0
    children = []
    for worker in range(config.workers):
        pid = os.fork()
        if pid == 0:  # child
            code = 0
            try:
                asyncio.run(run_worker(config, sockets, admin, worker))
            except BaseException:  # noqa: BLE001 - a child must never return into the parent
                code = 1
            os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = 0
    for pid in children:
        while True:
            try:
                _, code = os.waitpid(pid, 0)
                break
            except ChildProcessError:
                code = 0
                break
            except InterruptedError:
                continue
        status = max(status, os.waitstatus_to_exitcode(code) if code else 0)
    return status


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; stdlib asyncio works too
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
