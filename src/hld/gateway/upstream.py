"""Upstream pools at run time: connections, balancing, breaker, bulkhead, health checks.

One ``UpstreamPool`` per configured upstream holds the balancer over its servers (with
passive outlier ejection in its health tracker), one circuit breaker for the upstream,
a bulkhead bounding concurrent requests with a bounded wait queue, a retry budget, and
per-server pools of idle keep-alive connections.

``UpstreamConnection`` is an asyncio protocol with an llhttp response parser. It serves
one exchange at a time and hands itself back to its server's idle list when the response
ended cleanly with keep-alive; anything else closes it.

Most responses of an API are small, framed by Content-Length and arrive in one read, and
an upstream sends the same head again and again (only its Date changes, once a second).
``whole_response`` recognises that case: the head's bytes are looked up in a bounded
table of heads llhttp already parsed, and the response is handed over in one step
instead of a dozen parser callbacks. Anything else (chunked, close-delimited, 1xx, 204,
304, a response split across reads, a head never seen) goes through llhttp as before.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httptools

from hld.core.balance import (
    Backend,
    Balancer,
    HealthTracker,
    IpHash,
    KeyHash,
    LeastConnections,
    LeastResponseTime,
    OutlierDetection,
    Pool,
    PowerOfTwoChoices,
    RandomBalancer,
    ResourceBased,
    RoundRobin,
    SmoothWeightedRoundRobin,
    WeightedLeastConnections,
)
from hld.core.resilience import (
    BreakerConfig,
    Bulkhead,
    CircuitBreaker,
    RetryBudget,
    RetryPolicy,
    backoff_named,
)
from hld.gateway import limits
from hld.gateway.config import Upstream

if TYPE_CHECKING:
    from hld.gateway.proxy import ClientConnection, Exchange

WHOLE_HEADS_MAX = 256  # distinct heads remembered (cleared when full)


class KnownHead:
    """A plain keep-alive response head llhttp parsed (see ``whole_response``): its
    status, lower-cased headers and Content-Length."""

    __slots__ = ("compressible", "forward", "headers", "length", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], length: int) -> None:
        self.status = status
        self.headers = headers
        self.length = length
        # What the proxy writes to its client for this head, up to the per-request
        # lines, and whether its gzip would apply: pure functions of the head, so worked
        # out once, by the proxy, on first use.
        self.forward: bytes | None = None
        self.compressible = False


# By the head's exact bytes; None for a head that must go through the parser every time.
_WHOLE_HEADS: dict[bytes, KnownHead | None] = {}


class _HeadReader:
    """llhttp callbacks collecting one response head (see ``_read_head``)."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.complete = True


def _read_head(head: bytes) -> KnownHead | None:
    """Parse a response head with llhttp; None unless it is a plain keep-alive response
    framed by one valid Content-Length (what ``whole_response`` may shortcut)."""
    if len(head) > limits.UPSTREAM_HEADER_BYTES_MAX:
        return None
    reader = _HeadReader()
    parser = httptools.HttpResponseParser(reader)
    try:
        parser.feed_data(head + b"\r\n\r\n")
    except (httptools.HttpParserError, httptools.HttpParserUpgrade):
        return None  # (a 101 raises the latter: not a plain response either)
    status = parser.get_status_code()
    if not reader.complete or status < 200 or status in (204, 304) \
            or parser.get_http_version() != "1.1" or not parser.should_keep_alive():
        return None
    lengths = [v for n, v in reader.headers if n == b"content-length"]
    if len(lengths) != 1 or not lengths[0].isdigit() or any(
            n in (b"transfer-encoding", b"upgrade") for n, _ in reader.headers):
        return None
    return KnownHead(status, reader.headers, int(lengths[0]))


def whole_response(data: bytes) -> tuple[KnownHead, bytes] | None:
    """The head and the body when ``data`` is exactly one complete response whose head
    is a known plain one (see the module docstring); else None."""
    end = data.find(b"\r\n\r\n")
    if not 0 <= end <= limits.KNOWN_HEAD_BYTES_MAX:  # large heads are not remembered
        return None
    head = data[:end]
    try:
        known = _WHOLE_HEADS[head]
    except KeyError:
        known = _read_head(head)
        if len(_WHOLE_HEADS) >= WHOLE_HEADS_MAX:
            _WHOLE_HEADS.clear()
        _WHOLE_HEADS[head] = known
    if known is None or len(data) - end - 4 != known.length:
        return None
    return known, data[end + 4:]

# Config names → hld.core.resilience backoff names.
_BACKOFF_NAMES = {"none": "none", "exponential": "exponential", "full": "full_jitter",
                  "equal": "equal_jitter", "decorrelated": "decorrelated_jitter"}


def make_balancer(name: str, pool: Pool, health: HealthTracker, rng: random.Random) -> Balancer:
    """The balancer called ``name`` in the config over ``pool`` (shared health)."""
    factories: dict[str, Callable[[], Balancer]] = {
        "round_robin": lambda: RoundRobin(pool, health=health),
        "weighted": lambda: SmoothWeightedRoundRobin(pool, health=health),
        "random": lambda: RandomBalancer(pool, health=health, rng=rng),
        "least_conn": lambda: LeastConnections(pool, health=health),
        "weighted_least_conn": lambda: WeightedLeastConnections(pool, health=health),
        "ewma": lambda: LeastResponseTime(pool, health=health, peak=False),
        "peak_ewma": lambda: LeastResponseTime(pool, health=health, peak=True),
        "p2c": lambda: PowerOfTwoChoices(pool, health=health, rng=rng),
        "ip_hash": lambda: IpHash(pool, health=health),
        "key_hash": lambda: KeyHash(pool, health=health),
        "resource": lambda: ResourceBased(pool, health=health),
    }
    try:
        return factories[name]()
    except KeyError:
        raise ValueError(f"unknown balancer {name!r}; choose one of "
                         f"{', '.join(factories)}") from None


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection to one upstream server."""

    def __init__(self, server: ServerConnections) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.exchange: Exchange | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_bytes = 0
        self.head_request = False
        self.head_done = False
        self.closed = False
        self.idle_since = 0.0  # when it went back to the idle pool (the pool's clock)
        self.fresh = True  # the parser is between messages (whole_response may run)
        self.reset_parser = False
        self.upgraded = False
        self.paused = False  # reading paused while the client's write buffer is full
        # The client connection this one is spliced to after a 101 (uvloop caches the
        # protocol's bound methods, so the splice is a branch, not a method swap).
        self.tunnel: ClientConnection | None = None

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:  # after a 101: bytes go straight to the client
            self.tunnel.write(data)
            return
        exchange = self.exchange
        if self.fresh and exchange is not None and not self.head_request:
            whole = whole_response(data)
            if whole is not None:  # what the parser callbacks would do, in one step
                self.exchange = None
                exchange.on_whole_response(self, *whole)
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
            exchange = self.exchange
            if exchange is not None:
                exchange.on_upstream_upgraded(self, data[offset:])
            return
        except httptools.HttpParserError as exc:
            self._broken(f"upstream sent a malformed response ({exc})")
            return
        if exchange is not None and exchange.out is not None:
            exchange.flush_out()  # a response still streaming: what arrived goes out now
        if self.reset_parser:
            self.reset_parser = False
            self.parser = httptools.HttpResponseParser(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.discard(self)
        if self.tunnel is not None:
            self.tunnel.close()
            return
        exchange = self.exchange
        self.exchange = None
        if exchange is not None:
            exchange.on_upstream_lost(self, self.head_done)

    def pause_writing(self) -> None:  # upstream cannot take the request body fast enough
        pass

    def finished(self, reusable: bool) -> None:
        """The exchange is done with this connection: back to the idle pool, or closed."""
        if reusable and not self.closed:
            self.server.release(self)
        else:
            self.close()

    # -- llhttp callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.fresh = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_bytes += len(name) + len(value) + 4
        if self.head_bytes > limits.UPSTREAM_HEADER_BYTES_MAX:
            raise ValueError("upstream response head too large")
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        headers = self.headers
        self.headers = []
        self.head_bytes = 0
        if 100 <= status < 200 and status != 101:
            return  # interim responses (100 Continue) are not forwarded
        self.head_done = True
        # 101: the parser raises HttpParserUpgrade after this message; the connection
        # then becomes a tunnel and must not go back to the idle pool.
        self.upgraded = status == 101
        exchange = self.exchange
        if exchange is not None:
            exchange.on_response_head(status, headers, self.parser.should_keep_alive())
        if self.head_request:
            # A HEAD response announces a body it never sends: finish the message here
            # and start a fresh parser for the next response on this connection.
            self.reset_parser = True
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.on_response_body(body)

    def on_message_complete(self) -> None:
        self.fresh = True
        if not self.head_done or self.upgraded:
            return
        exchange = self.exchange
        self.exchange = None
        self.head_done = False
        keep = (not self.closed and self.parser.should_keep_alive()
                and exchange is not None and exchange.upstream_reusable)
        if exchange is not None:
            exchange.on_response_done()
        if keep:
            self.server.release(self)
        else:
            self.close()

    # -- used by the exchange ----------------------------------------------------------

    def send(self, exchange: Exchange, data: bytes, head_request: bool) -> None:
        self.exchange = exchange
        self.head_request = head_request
        self.head_done = False
        assert self.transport is not None
        self.transport.write(data)

    def pause(self) -> None:
        """Stop reading the response: the client cannot take it as fast."""
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def detach(self) -> None:
        """The exchange gave up on this connection (timeout, client gone): close it."""
        self.exchange = None
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.server.discard(self)
            if self.transport is not None:
                self.transport.close()

    def _broken(self, reason: str) -> None:
        exchange = self.exchange
        self.exchange = None
        self.close()
        if exchange is not None:
            exchange.on_upstream_error(reason, self.head_done)


class ServerConnections:
    """Idle keep-alive connections to one upstream server, most recently used first.

    A connection idle longer than ``idle_timeout_s`` is closed when it comes up rather
    than reused (the server may be closing it); the older ones below it are older still.
    """

    def __init__(self, host: str, port: int, *, idle_timeout_s: float = 4.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        self.port = port
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock
        self.idle: list[UpstreamConnection] = []
        self.open = 0

    def acquire(self) -> UpstreamConnection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.closed:
                continue
            if self.clock() - conn.idle_since > self.idle_timeout_s:
                for stale in (conn, *idle):  # all older: close them all
                    stale.close()
                idle.clear()
                return None
            return conn
        return None

    async def connect(self) -> UpstreamConnection:
        loop = asyncio.get_running_loop()
        _, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: UpstreamConnection(self), self.host, self.port),
            limits.UPSTREAM_CONNECT_TIMEOUT_S)
        self.open += 1
        return protocol

    def release(self, conn: UpstreamConnection) -> None:
        if conn.paused:  # its client filled up just as the response ended
            conn.resume()
        if len(self.idle) < limits.UPSTREAM_IDLE_PER_BACKEND_MAX:
            conn.idle_since = self.clock()
            self.idle.append(conn)
        else:
            conn.close()

    def discard(self, conn: UpstreamConnection) -> None:
        if conn in self.idle:
            self.idle.remove(conn)

    def close_all(self) -> None:
        for conn in list(self.idle):
            conn.close()
        self.idle.clear()


class UpstreamPool:
    """Everything the gateway keeps per configured upstream."""

    def __init__(self, config: Upstream, *, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.name = config.name
        self.clock = clock
        self.rng = rng or random.Random()
        self.pool = Pool(Backend(s.url, s.weight, f"{s.host}:{s.port}") for s in config.servers)
        outlier = config.outlier
        self.health = HealthTracker(OutlierDetection(
            consecutive_failures=outlier.consecutive_failures,
            base_ejection_time_s=outlier.base_ejection_s,
            max_ejection_percent=outlier.max_ejection_pct))
        self.balancer: Balancer
        self.request_aware = False  # the balancer reads the request (address, key)
        self.switch_balancer(config.balance)
        self.servers = {s.url: ServerConnections(s.host, s.port, clock=clock,
                                                 idle_timeout_s=config.idle_timeout_s)
                        for s in config.servers}
        self.breaker: CircuitBreaker | None = None
        if config.breaker is not None:
            b = config.breaker
            self.breaker = CircuitBreaker(BreakerConfig(
                failure_rate_threshold_pct=b.failure_rate_pct, window_calls=b.window,
                minimum_calls=b.minimum_calls, open_s=b.open_s, half_open_probes=b.half_open_probes,
                slow_call_duration_s=b.slow_call_s))
        self.bulkhead = Bulkhead(config.max_concurrent, config.queue)
        self.waiters: dict[int, Callable[[], None]] = {}
        self.retry = RetryPolicy(backoff_named(_BACKOFF_NAMES[config.retry_backoff],
                                               config.retry_base_s, config.retry_cap_s),
                                 max_attempts=min(config.retries + 1, limits.ATTEMPTS_MAX))
        self.budget = RetryBudget(ratio=config.retry_budget_pct / 100.0,
                                  min_retries_per_s=config.retry_budget_min_per_s)
        self.health_task: asyncio.Task[None] | None = None
        self.events: list[dict[str, Any]] = []

    def switch_balancer(self, name: str) -> None:
        """Change the algorithm live; ejections and pool membership are kept."""
        self.balancer = make_balancer(name, self.pool, self.health, self.rng)
        # Known once here, not by an (ABC) isinstance check per request.
        self.request_aware = isinstance(self.balancer, (IpHash, KeyHash))

    # -- bulkhead ---------------------------------------------------------------------

    def release_slot(self) -> None:
        ticket = self.bulkhead.release()
        if ticket is not None:
            wake = self.waiters.pop(ticket, None)
            if wake is not None:
                wake()

    # -- active health checks ------------------------------------------------------------

    def start_health_checks(self) -> None:
        if self.config.health_check is not None and self.health_task is None:
            self.health_task = asyncio.get_running_loop().create_task(self._check_forever())

    async def _check_forever(self) -> None:
        check = self.config.health_check
        assert check is not None
        while True:
            await asyncio.gather(*(self._check_one(b, check.path, check.timeout_s)
                                   for b in self.pool.backends))
            await asyncio.sleep(check.interval_s)

    async def _check_one(self, backend: Backend, path: str, timeout_s: float) -> None:
        server = self.servers[backend.name]
        healthy = False
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(server.host, server.port), timeout_s)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {server.host}\r\n"
                         "Connection: close\r\nUser-Agent: hld-gateway-health\r\n\r\n".encode())
            line = await asyncio.wait_for(reader.readline(), timeout_s)
            parts = line.split()
            healthy = len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 300
        except (OSError, TimeoutError):
            healthy = False
        finally:
            if writer is not None:
                writer.close()
        self.balancer.report_health(backend, healthy, self.clock())

    def close(self) -> None:
        if self.health_task is not None:
            self.health_task.cancel()
        for server in self.servers.values():
            server.close_all()
