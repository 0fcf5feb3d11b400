"""The proxy: client connections, request exchanges with upstreams, and their framing.

``ClientConnection`` parses requests with llhttp, refuses what ``http.check_head``
refuses, buffers a bounded body and hands each complete request to an ``Exchange``, one
at a time (pipelined requests wait in a bounded queue, so responses leave in order).

``Exchange`` runs one request to completion by callbacks, not coroutines: admission
(route policies in ``policy.py``), the balancer's pick, the upstream breaker and
bulkhead, an idle pooled connection, the write, then the response streamed back chunk
by chunk as the upstream parser produces it (which is what lets Server-Sent Events
through unbuffered). A failure before any response byte reached the client may be
retried on another server with jittered backoff, when the request is idempotent, the
body was never sent, attempts and the retry budget allow, and the deadline leaves time.

Timeouts of idle, slow-header and slow-body clients are enforced by one sweep per second
over all connections (``Gateway.sweep``) instead of a timer per request.

Two shortcuts serve the common case of an API behind the gateway, a keep-alive client
repeating small requests, with the same outcome as the general path: a read that
repeats, byte for byte, the last read that was one whole request without a body reuses
that request's head instead of parsing it again (``ClientConnection.data_received``);
and a whole response with a head seen before is answered in one step
(``Exchange.on_whole_response``, fed by ``upstream.whole_response``).
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from typing import TYPE_CHECKING, Any

import httptools

from hld.core.balance import EMPTY_REQUEST, Backend, NoBackendAvailable, Request
from hld.core.resilience import Deadline, DeadlineHeaderError
from hld.gateway import limits
from hld.gateway.http import (
    HOP_BY_HOP,
    Refusal,
    RequestHead,
    accepts_gzip,
    check_head,
    error_response,
    status_line,
)
from hld.gateway.upstream import KnownHead, UpstreamConnection, UpstreamPool

if TYPE_CHECKING:
    from hld.gateway.policy import Identity
    from hld.gateway.server import Gateway, RouteRuntime

IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})
COMPRESSIBLE = (b"text/", b"application/json", b"application/javascript",
                b"application/xml", b"image/svg+xml")
GZIP_BYTES_MIN = 1024
# Response headers write_head must look at, by what it does with them; every other
# header is copied as it is (one dict lookup per header).
_LENGTH, _CHUNKED, _DROP, _TYPE, _ENCODING = range(5)
_RESPONSE_SPECIAL = {
    **dict.fromkeys(HOP_BY_HOP, _DROP), b"x-request-id": _DROP,
    b"transfer-encoding": _CHUNKED, b"content-length": _LENGTH,
    b"content-type": _TYPE, b"content-encoding": _ENCODING,
}

_CLOSE_LINE = b"connection: close\r\n"
_KEEP_ALIVE_LINE = b"connection: keep-alive\r\n"

# Connection states the sweep looks at.
HEAD, BODY, BUSY, IDLE = range(4)


# write_head's reading of an upstream's header list is a pure function of that list, and
# an upstream repeats the same list for many responses (only Date changes, once a
# second), so the results are remembered: a C-level tuple hash and dict lookup instead
# of a Python loop over the headers. Cleared when full.
SORTED_HEADS_MAX = 256
_SortedHead = tuple[bytes, int | None, bool, bytes, bool]
_SORTED_HEADS: dict[tuple[tuple[bytes, bytes], ...], _SortedHead] = {}


def _sort_response_headers(headers: list[tuple[bytes, bytes]]) -> _SortedHead:
    """The headers copied as they are (one block), the Content-Length, whether the
    upstream sent chunked, the lower-cased Content-Type and whether it was encoded."""
    length: int | None = None
    chunked = False
    content_type = b""
    encoded = False
    out: list[bytes] = []
    nominated = _nominated(headers)
    for name, value in headers:
        if name in nominated:
            continue
        kind = _RESPONSE_SPECIAL.get(name)  # None for the headers copied as they are
        if kind is not None:
            if kind == _LENGTH:
                length = int(value) if value.strip().isdigit() else None
                continue
            if kind == _CHUNKED:
                chunked = True
                continue
            if kind == _DROP:
                continue
            if kind == _TYPE:
                content_type = value
            else:
                encoded = True
        out.append(name + b": " + value + b"\r\n")
    return b"".join(out), length, chunked, content_type.lower(), encoded


def _nominated(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    """Headers a message's Connection header names: they describe that connection only
    and a proxy drops them with it (RFC 9110 7.6.1)."""
    names = [token.strip().lower() for name, value in headers if name == b"connection"
             for token in value.split(b",")]
    return frozenset(names) - {b"", b"close", b"keep-alive"} if names else frozenset()


def _learn_head(known: KnownHead) -> bytes:
    """Fill in what ``on_whole_response`` needs of a known plain head: the head
    ``write_head`` writes for it without the lines that change per request (X-Request-ID,
    Connection: close) and the blank line; and whether a route's gzip could apply."""
    block, _, _, content_type, encoded = _sort_response_headers(known.headers)
    known.compressible = (not encoded and content_type.startswith(COMPRESSIBLE)
                          and not content_type.startswith(b"text/event-stream")
                          and known.length >= GZIP_BYTES_MIN)
    known.forward = status_line(known.status) + block + b"content-length: %d\r\n" % known.length
    return known.forward


class _Refused(Exception):  # noqa: N818 - control flow out of llhttp callbacks
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class ClientConnection(asyncio.Protocol):
    """One client's connection: parse, check, queue and answer requests in order."""

    def __init__(self, gateway: Gateway, tls: bool = False) -> None:
        self.gateway = gateway
        self.tls = tls
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.peer = ""
        self.state = HEAD
        self.since = 0.0
        self.body_last = 0.0
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_bytes = 0
        self.body: list[bytes] = []
        self.body_bytes = 0
        self.head: RequestHead | None = None
        self.last_head: RequestHead | None = None  # the last head check_head accepted
        self.pending: deque[tuple[RequestHead, bytes]] = deque()
        self.exchange: Exchange | None = None
        self.reading_paused = False
        self.writing_paused = False
        self.closing = False
        self.tunnel: UpstreamConnection | None = None
        self.upgrading = False  # an upgrade request was parsed; llhttp is done with us
        self.receiving = False  # between on_message_begin and on_message_complete
        self.deferred: bytes | None = None  # a refusal waiting for earlier responses
        # The last request's header list and the header block it produced upstream
        # (Gateway.upstream_request reuses the block while the list repeats).
        self.forward_key: list[tuple[bytes, bytes]] | None = None
        self.forward_block = b""
        # The last head forwarded and its request line plus forwarded header lines.
        self.forward_head: RequestHead | None = None
        self.forward_start = b""
        # The last read when it held exactly one whole request without a body and
        # nothing else (see data_received); how many messages the current read began.
        self.repeat: bytes | None = None
        self.begun = 0
        # The route of the last head routed on this connection (routes never change).
        self.routed_head: RequestHead | None = None
        self.routed: RouteRuntime | None = None

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is no subclass
        transport.set_write_buffer_limits(  # type: ignore[attr-defined] # a write transport
            high=limits.WRITE_BUFFER_HIGH_BYTES, low=limits.WRITE_BUFFER_LOW_BYTES)
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if isinstance(peer, tuple) else "unix"
        self.since = self.gateway.clock()
        if not self.gateway.register(self):
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.gateway.unregister(self)
        if self.exchange is not None:
            self.exchange.on_client_lost()
        if self.tunnel is not None:
            self.tunnel.close()

    def data_received(self, data: bytes) -> None:
        # A keep-alive client tends to send the very same request again (a poller, a
        # health check, a load generator). When a read is byte for byte the last one,
        # and that one was exactly one whole request without a body that llhttp
        # accepted, starting from the same parser state (between messages), parsing it
        # again must give the same head: it is served without the parser.
        if data == self.repeat and self.exchange is None and not self.pending:
            self.start(self.last_head, b"")  # type: ignore[arg-type] # set with repeat
            return
        self.repeat = None
        if self.tunnel is not None:
            if self.tunnel.transport is not None:
                self.tunnel.transport.write(data)
            return
        if self.upgrading:
            # Bytes after an upgrade request wait for the upstream's 101 (bounded).
            self.upgrade_pending += data
            if len(self.upgrade_pending) > limits.UPGRADE_EARLY_BYTES_MAX:
                self.close()
            return
        between = not self.receiving
        self.begun = 0
        try:
            self.parser.feed_data(data)
        except _Refused as exc:
            self.refuse(exc.refusal)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0] if exc.args and isinstance(exc.args[0], int) else len(data)
            self.upgrading = True
            self.upgrade_pending = data[offset:]
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Refused):
                self.refuse(cause.refusal)
            else:
                self.refuse(Refusal(400, "malformed request"))
        except httptools.HttpParserError as exc:
            self.refuse(Refusal(400, f"malformed request: {_parser_message(exc)}"))
        else:
            head = self.last_head
            if (between and self.begun == 1 and not self.receiving and head is not None
                    and head.keep_alive and not head.content_length and not head.chunked
                    and not head.upgrade and not self.closing
                    and len(data) <= limits.REPEAT_BYTES_MAX):
                self.repeat = data

    def pause_writing(self) -> None:
        self.writing_paused = True
        if self.exchange is not None:
            self.exchange.pause_upstream()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.exchange is not None:
            self.exchange.resume_upstream()

    # -- llhttp callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.begun += 1
        self.receiving = True
        self.state = HEAD
        self.since = self.gateway.clock()
        self.target = b""
        self.headers = []
        self.header_bytes = 0
        self.body = []
        self.body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.target += url
        if len(self.target) > limits.URI_BYTES_MAX:
            raise _Refused(Refusal(414, f"request target longer than {limits.URI_BYTES_MAX} "
                                        "bytes"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4
        self.headers.append((name.lower(), value))
        if self.header_bytes > limits.HEADER_BYTES_MAX:
            raise _Refused(Refusal(431, f"header fields larger than {limits.HEADER_BYTES_MAX} "
                                        "bytes"))
        if len(self.headers) > limits.HEADER_COUNT_MAX:
            raise _Refused(Refusal(431, f"more than {limits.HEADER_COUNT_MAX} header fields"))

    def on_headers_complete(self) -> None:
        parser = self.parser
        method = parser.get_method()
        version = parser.get_http_version()
        keep_alive = parser.should_keep_alive()
        last = self.last_head
        # A keep-alive client tends to send the same request head again. When method,
        # target, version, keep-alive and every header equal the last accepted head, so
        # do all of check_head's verdicts and derived fields, and that head is reused as
        # it is (nothing mutates a RequestHead after check_head).
        if (last is not None and self.headers == last.headers and self.target == last.target
                and method == last.method and version == last.version
                and keep_alive == last.keep_alive):
            head = last
        else:
            head = RequestHead(method, self.target, version, self.headers, self.header_bytes)
            head.keep_alive = keep_alive
            refusal = check_head(head)
            if refusal is not None:
                raise _Refused(refusal)
            self.last_head = head
        self.head = head
        if head.chunked or head.content_length:
            self.state = BODY
            self.body_last = self.since = self.gateway.clock()
            if head.expect_continue and self.transport is not None:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > limits.BODY_BYTES_MAX:
            raise _Refused(Refusal(413, f"body larger than {limits.BODY_BYTES_MAX} bytes"))
        self.body.append(body)
        self.body_last = self.gateway.clock()

    def on_message_complete(self) -> None:
        self.receiving = False
        head = self.head
        if head is None:
            return
        self.head = None
        body = b"".join(self.body)
        self.body = []
        if head.upgrade == b"websocket" and self.parser.should_upgrade():
            # The parser raises HttpParserUpgrade right after this callback; the bytes
            # that follow belong to the tunnel.
            self.upgrade_pending = b""
        if self.exchange is None and not self.pending:
            self.start(head, body)
        else:
            self.state = BUSY  # queued behind the response in progress
            self.pending.append((head, body))
            if len(self.pending) >= limits.PIPELINE_DEPTH_MAX and self.transport is not None:
                self.transport.pause_reading()
                self.reading_paused = True

    # -- requests ------------------------------------------------------------------------

    upgrade_pending: bytes = b""

    def start(self, head: RequestHead, body: bytes) -> None:
        self.state = BUSY
        self.since = now = self.gateway.clock()
        exchange = Exchange(self, head, body, now)
        self.exchange = exchange
        exchange.start()

    def finished(self, exchange: Exchange, keep_alive: bool, now: float) -> None:
        """The exchange wrote its whole response at ``now``; go on with the next request."""
        if self.exchange is not exchange:
            return
        self.exchange = None
        if not keep_alive or self.closing or self.upgrading:
            # After an upgrade request that was not accepted, llhttp will not parse
            # another request on this connection.
            self.close()
            return
        if self.pending:
            head, body = self.pending.popleft()
            if self.reading_paused and self.transport is not None and self.deferred is None:
                self.reading_paused = False
                self.transport.resume_reading()
            self.start(head, body)
            return
        if self.deferred is not None:
            self.write(self.deferred)
            self.close()
            return
        if self.receiving:
            self.state = HEAD if self.head is None else BODY  # its clock keeps running
            return
        self.state = IDLE
        self.since = now

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closing:
            self.transport.write(data)

    def refuse(self, refusal: Refusal) -> None:
        """Answer a request the gateway will not forward, then close: every refusal here
        came out of llhttp's callbacks, after which the parser accepts no more input."""
        request_id = self.gateway.new_request_id()
        self.gateway.metrics.refused(refusal.status)
        self.gateway.log_refusal(self.peer, refusal, request_id)
        if self.exchange is None:
            self.write(error_response(refusal.status, refusal.message, request_id,
                                      close=True))
            self.close()
        else:
            # A response is still in progress: the refusal must not overtake it (nor cut
            # it off); it goes out after the responses before it, then the connection ends.
            self.deferred = error_response(refusal.status, refusal.message, request_id,
                                           close=True)
            if self.transport is not None:
                self.transport.pause_reading()

    def timed_out(self, what: str) -> None:
        if not self.receiving:
            self.close()  # not a byte of a request arrived: nothing to answer (as nginx)
            return
        if self.exchange is None:
            self.write(error_response(408, f"{what} took too long", self.gateway.new_request_id(),
                                      close=True))
        self.close()

    def close(self) -> None:
        self.closing = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def start_tunnel(self, upstream: UpstreamConnection, early: bytes) -> None:
        """After a 101 answer: splice bytes both ways until either side closes."""
        self.tunnel = upstream
        self.state = BUSY
        if self.upgrade_pending and upstream.transport is not None:
            upstream.transport.write(self.upgrade_pending)
        self.upgrade_pending = b""
        if early:
            self.write(early)


def _parser_message(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:120]


class Exchange:
    """One request from admission to the last byte of its response."""

    # Fields most requests never change are class-level defaults (no __slots__): an
    # instance's dict then holds only what a request sets, which makes creating one
    # per request cheaper than assigning some thirty slots.
    route: RouteRuntime | None = None
    request_id = ""
    traceparent = ""
    identity: Identity | None = None
    # Absolute monotonic deadline (seconds); a float rather than a Deadline object
    # because it is read several times per request.
    deadline_at = float("inf")
    upstream_started_at = 0.0
    attempts = 0
    previous_delay_s = 0.0
    backend: Backend | None = None
    upstream: UpstreamConnection | None = None
    upstream_reusable = True
    body_sent = False
    response_started = False
    response_bytes = 0
    status = 0
    chunked_out = False
    compress: Any = None
    cache_key: Any = None
    cache_buffer: list[bytes] | None = None
    cache_head: tuple[int, list[tuple[bytes, bytes]]] | None = None
    _close_delimited = False
    out: list[bytes] | None = None
    slot = False
    ticket: int | None = None
    timer: asyncio.TimerHandle | None = None
    done = False

    def __init__(self, client: ClientConnection, head: RequestHead, body: bytes,
                 now: float) -> None:
        self.gateway = client.gateway
        self.client = client
        self.head = head
        self.body = body
        self.method = head.method
        self.path = head.path
        self.started_at = now
        self.keep_alive = head.keep_alive

    # -- admission --------------------------------------------------------------------

    def start(self) -> None:
        gateway = self.gateway
        head = self.head
        if head.request_id is None and head.traceparent is None:
            # The common case, the client sent neither: one draw for 64 bits of request
            # id, 128 of trace id and 64 of span id.
            bits = f"{gateway.ids.getrandbits(256):064x}"
            self.request_id = bits[:16]
            self.traceparent = f"00-{bits[16:48]}-{bits[48:]}-01"
        else:
            self.request_id = gateway.request_id_for(head)
            self.traceparent = gateway.traceparent_for(head)
        client = self.client
        if head is client.routed_head:  # the same head again: the same route
            route = client.routed
        else:
            route = gateway.match(head.host, self.path)
            client.routed_head = head
            client.routed = route
        if route is None:
            self.respond_error(404, "no route matches this host and path")
            return
        self.route = route
        if route.methods is not None and self.method.decode() not in route.methods:
            self.respond_error(405, f"method {self.method.decode()} is not allowed here",
                               extra=[("allow", ", ".join(route.methods))])
            return
        now = self.started_at
        deadline_at = now + route.timeout_s
        incoming = head.deadline
        if incoming is not None:
            try:
                deadline_at = min(deadline_at, Deadline.from_header(incoming, now).at_s)
            except DeadlineHeaderError as exc:
                self.respond_error(400, str(exc))
                return
        self.deadline_at = deadline_at
        if route.policy is not None:
            outcome = route.policy.admit(self, now)
            if outcome is None:
                self.proceed(now)
            elif isinstance(outcome, Refusal):
                self.respond_refusal(outcome)
            else:  # a coroutine: the policy must ask the store first
                gateway.spawn(self._admit_later(outcome))
            return
        self.proceed(now)

    async def _admit_later(self, pending: Any) -> None:
        try:
            outcome = await pending
        except Exception as exc:  # noqa: BLE001 - a broken dependency answers 503, logged
            self.gateway.log_error("admission failed", exc, self.request_id)
            self.respond_error(503, "the gateway could not check this request (store "
                                    "unavailable)")
            return
        if self.done:
            return
        if outcome is None:
            self.proceed()
        else:
            self.respond_refusal(outcome)

    def proceed(self, now: float | None = None) -> None:
        """Admitted: serve from cache, or go upstream."""
        route = self.route
        assert route is not None
        if now is None:
            now = self.gateway.clock()
        if route.cache is not None and self.method in (b"GET", b"HEAD"):
            cached = route.cache.lookup(self, now)
            if cached is not None:
                self.gateway.metrics.cache(route.name, hit=True)
                self.write_cached(cached)
                return
            self.gateway.metrics.cache(route.name, hit=False)
        upstream = route.upstream
        upstream.budget.record_request(now)
        if upstream.bulkhead.try_acquire():
            self.slot = True
            self.attempt(now)
        else:
            self.wait_for_slot(upstream)

    # -- bulkhead --------------------------------------------------------------------

    def wait_for_slot(self, upstream: UpstreamPool) -> None:
        """Every slot of the upstream's bulkhead is taken: queue, or answer 503."""
        ticket = upstream.bulkhead.enqueue()
        if ticket is None:
            self.gateway.metrics.rejected(upstream.name, "bulkhead")
            self.respond_error(503, f"upstream {upstream.name!r} is at its concurrency limit "
                                    "and its queue is full", extra=[("retry-after", "1")])
            return
        self.ticket = ticket
        upstream.waiters[ticket] = self._slot_granted
        self.set_timer(min(upstream.config.queue_timeout_s, self.remaining_s()),
                       self._queue_timeout)

    def _slot_granted(self) -> None:
        self.ticket = None
        self.slot = True
        self.cancel_timer()
        if self.done:
            self.release_slot()
            return
        self.attempt()

    def _queue_timeout(self) -> None:
        route = self.route
        assert route is not None
        upstream = route.upstream
        if self.ticket is not None:
            upstream.waiters.pop(self.ticket, None)
            if not upstream.bulkhead.cancel(self.ticket):
                self.slot = True  # granted in the same instant; give it back
            self.ticket = None
        self.gateway.metrics.rejected(upstream.name, "bulkhead")
        self.respond_error(503, f"upstream {upstream.name!r} is busy: waited "
                                f"{upstream.config.queue_timeout_s:g}s for a free slot",
                           extra=[("retry-after", "1")])

    def release_slot(self) -> None:
        if self.slot:
            self.slot = False
            assert self.route is not None
            self.route.upstream.release_slot()

    # -- attempts --------------------------------------------------------------------

    def remaining_s(self) -> float:
        return max(0.0, self.deadline_at - self.gateway.clock())

    def attempt(self, now: float | None = None) -> None:
        if self.done:
            return
        route = self.route
        assert route is not None
        upstream = route.upstream
        if now is None:
            now = self.gateway.clock()
        remaining_s = self.deadline_at - now
        if remaining_s <= 0:
            self.respond_error(504, "deadline passed before the upstream answered")
            return
        breaker = upstream.breaker
        if breaker is not None and not breaker.try_acquire(now):
            self.gateway.metrics.rejected(upstream.name, "breaker")
            self.gateway.note_breaker(upstream)
            self.respond_error(503, f"circuit open for upstream {upstream.name!r}",
                               extra=[("retry-after", str(max(1, round(
                                   (breaker.next_deadline_s() or now + 1) - now))))])
            return
        balancer = upstream.balancer
        try:
            if upstream.request_aware:  # the others share one empty request
                backend = balancer.pick(
                    Request(self.gateway.client_address(self), self.path, {}), now)
            else:
                backend = balancer.pick(EMPTY_REQUEST, now)
        except NoBackendAvailable:
            if breaker is not None:
                breaker.release(now)
            self.respond_error(503, f"no healthy server in upstream {upstream.name!r}")
            return
        self.attempts += 1
        self.backend = backend
        balancer.on_start(backend)
        self.upstream_started_at = now
        # The attempt's deadline is watched by the gateway's deadline tick (a set add
        # here, a discard when the exchange ends) rather than a timer per request: a
        # uvloop timer costs a libuv handle to start and stop, several microseconds.
        timer = self.timer
        if timer is not None:
            timer.cancel()
            self.timer = None
        gateway = self.gateway
        gateway.deadlines.add(self)  # Gateway.watch_deadline inlined
        if gateway.deadline_timer is None:
            gateway.watch_deadline(self)
        server = upstream.servers[backend.name]
        conn = server.acquire()
        if conn is None:
            self.gateway.spawn(self._connect(server))
        else:
            self.send(conn, now)

    async def _connect(self, server: Any) -> None:
        try:
            conn = await server.connect()
        except (OSError, TimeoutError) as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            self.on_upstream_error(f"cannot connect to {server.host}:{server.port}: {reason}",
                                   False, connect=True)
            return
        if self.done or self.upstream is not None or self.backend is None:
            server.release(conn)
            return
        self.send(conn)

    def send(self, conn: UpstreamConnection, now: float | None = None) -> None:
        self.upstream = conn
        self.upstream_reusable = True
        if now is None:
            now = self.gateway.clock()
        conn.send(self, self.gateway.upstream_request(self, now), self.method == b"HEAD")
        if self.body:
            self.body_sent = True
        if self.client.writing_paused:  # a pipelined request behind a slow reader
            conn.pause()

    def set_timer(self, delay_s: float, callback: Any) -> None:
        self.cancel_timer()
        self.timer = self.gateway.loop.call_later(max(0.0, delay_s), callback)

    def cancel_timer(self) -> None:
        """Stop the retry or queue timer, and the deadline watch of an attempt."""
        self.gateway.deadlines.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def deadline_passed(self) -> None:
        """Called by the gateway's deadline tick once ``deadline_at`` has passed."""
        conn = self.upstream
        self.upstream = None
        if conn is not None:
            conn.detach()
        self.finish_attempt(ok=False)
        if self.response_started:
            self.client.close()
            self.finish()
            return
        self.respond_error(504, "upstream did not answer before the deadline")

    def finish_attempt(self, ok: bool, now: float | None = None) -> None:
        """Tell the balancer, health tracker and breaker how the attempt went."""
        backend = self.backend
        if backend is None:
            return
        self.backend = None
        route = self.route
        assert route is not None
        upstream = route.upstream
        if now is None:
            now = self.gateway.clock()
        latency_s = max(0.0, now - self.upstream_started_at)
        upstream.balancer.on_finish(backend, latency_s, ok, now)
        breaker = upstream.breaker
        if breaker is not None:
            before = breaker.state
            if ok:
                breaker.on_success(latency_s, now)
            else:
                breaker.on_failure(latency_s, now)
            if breaker.state is not before:  # events are bounded; the sweep drains the rest
                self.gateway.note_breaker(upstream)
        self.gateway.metrics.upstream(upstream.name, backend.name, ok, latency_s)

    def retry_or_fail(self, status: int, reason: str) -> None:
        """Retry when it is safe and allowed; otherwise answer ``status``."""
        route = self.route
        assert route is not None
        upstream = route.upstream
        now = self.gateway.clock()
        safe = self.method in IDEMPOTENT and not self.body_sent and not self.response_started
        if safe and not self.done:
            delay = upstream.retry.next_delay_s(self.attempts, self.previous_delay_s,
                                                upstream.rng)
            if delay is not None and delay < self.remaining_s() \
                    and upstream.budget.try_retry(now):
                self.previous_delay_s = delay
                self.gateway.metrics.retry(upstream.name)
                self.set_timer(delay, self.attempt)
                return
        self.respond_error(status, reason)

    # -- upstream callbacks ------------------------------------------------------------

    def on_upstream_error(self, reason: str, head_done: bool, connect: bool = False) -> None:
        self.upstream = None
        self.cancel_timer()
        self.finish_attempt(ok=False)
        if connect:
            self.body_sent = False  # nothing reached the server: a retry is safe
        if self.response_started or head_done:
            self.client.close()
            self.finish()
            return
        self.retry_or_fail(502, reason)

    def on_upstream_lost(self, conn: UpstreamConnection, head_done: bool) -> None:
        if self.upstream is not conn:
            return
        if head_done and not self.chunked_out and self.response_started \
                and self._close_delimited:
            self.on_response_done()  # the body was delimited by the close
            return
        self.on_upstream_error("upstream closed the connection", head_done)

    def on_upstream_upgraded(self, conn: UpstreamConnection, early: bytes) -> None:
        self.cancel_timer()
        self.finish_attempt(ok=True)
        self.upstream = None
        conn.exchange = None
        conn.server.discard(conn)
        self.done = True
        self.release_slot()
        now = self.gateway.clock()
        self.gateway.metrics.request(self.route.name if self.route else "-", 101,
                                     now - self.started_at)
        if self.gateway.config.access_log:
            self.gateway.access_log(self, 101, "", now - self.started_at)
        self.client.exchange = None
        # From now on the upstream's bytes go straight to the client and back.
        conn.tunnel = self.client
        self.client.start_tunnel(conn, early)

    def on_response_head(self, status: int, headers: list[tuple[bytes, bytes]],
                         keep_alive: bool) -> None:
        route = self.route
        assert route is not None
        if status >= 500 and self.method in IDEMPOTENT and not self.body_sent \
                and self.attempts < route.upstream.retry.max_attempts and status != 501:
            # Drop this answer and its connection; maybe retry elsewhere.
            conn = self.upstream
            self.upstream = None
            if conn is not None:
                conn.detach()
            self.cancel_timer()
            self.finish_attempt(ok=False)
            self.retry_or_fail(status if status in (502, 503, 504) else 502,
                               f"upstream answered {status}")
            return
        if status == 101:
            self.status = 101
            self.client.write(status_line(101) + _header_block(headers, keep_hop=True) + b"\r\n")
            return
        self.status = status
        self.upstream_reusable = keep_alive
        self.response_started = True
        self.write_head(status, headers)

    def on_whole_response(self, conn: UpstreamConnection, known: KnownHead,
                          body: bytes) -> None:
        """One whole response with a known plain head (``upstream.whole_response``),
        already detached from ``conn``: the common case in one step; anything that
        needs more (a retry, gzip, the response cache) takes the general path."""
        route = self.route
        assert route is not None
        status = known.status
        forward = known.forward
        if forward is None:
            forward = _learn_head(known)
        if (status >= 500 or route.cache is not None or self.done
                or (route.gzip and known.compressible)):
            self.on_response_head(status, known.headers, True)
            if body:
                self.on_response_body(body)
            reusable = self.upstream_reusable
            self.on_response_done()
            conn.finished(reusable)
            return
        self.upstream = None
        self.status = status
        self.response_started = True
        self.response_bytes = len(body)
        client = self.client
        if client.transport is not None and not client.closing:  # client.write inlined
            client.transport.write(b"%bx-request-id: %b\r\n%b\r\n%b" % (
                forward, self.request_id.encode(), self.connection_line(), body))
        now = self.gateway.clock()
        self.finish_attempt(True, now)
        self.finish(now=now)
        # Back to the pool only now, as the parser's path does: finish() may start a
        # pipelined request, which must not be written down a connection the upstream
        # may be closing right behind this answer (that close has not been read yet).
        if not conn.closed:  # conn.finished(True) inlined
            conn.server.release(conn)

    def write_head(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        route = self.route
        assert route is not None
        key = tuple(headers)
        sorted_head = _SORTED_HEADS.get(key)
        if sorted_head is None:
            sorted_head = _sort_response_headers(headers)
            if len(_SORTED_HEADS) >= SORTED_HEADS_MAX:
                _SORTED_HEADS.clear()
            _SORTED_HEADS[key] = sorted_head
        block, length, chunked, content_type, encoded = sorted_head
        out: list[bytes] = [status_line(status), block]
        bodyless = status in (204, 304) or self.method == b"HEAD" or 100 <= status < 200
        self._close_delimited = not bodyless and length is None and not chunked
        if (route.gzip and not encoded and not bodyless and content_type.startswith(COMPRESSIBLE)
                and not content_type.startswith(b"text/event-stream")
                and (length is None or length >= GZIP_BYTES_MIN)
                and accepts_gzip(self.head.get(b"accept-encoding"))):
            self.compress = zlib.compressobj(6, zlib.DEFLATED, 31)
            length = None
            out.append(b"content-encoding: gzip\r\nvary: accept-encoding\r\n")
        if route.cache is not None and self.method == b"GET":
            self.cache_key = route.cache.storable(self, status, headers)
            if self.cache_key is not None:
                self.cache_buffer = []
                self.cache_head = (status, headers)
        if bodyless:
            if length is not None:
                out.append(b"content-length: %d\r\n" % length)
        elif length is not None:
            out.append(b"content-length: %d\r\n" % length)
        elif self.head.version == "1.1":
            out.append(b"transfer-encoding: chunked\r\n")
            self.chunked_out = True
        else:
            self.keep_alive = False  # HTTP/1.0 without a length: the close ends the body
        out.append(b"x-request-id: " + self.request_id.encode() + b"\r\n")
        out.append(self.connection_line())
        out.append(b"\r\n")
        # Held until the end of this read from the upstream, so that a head and a body
        # that arrived together leave in one write (one syscall per small response).
        self.out = out

    def emit(self, data: bytes) -> None:
        out = self.out
        if out is not None:
            out.append(data)
        else:
            self.client.write(data)

    def flush_out(self) -> None:
        out = self.out
        if out is not None:
            self.out = None
            self.client.write(b"".join(out))

    def on_response_body(self, chunk: bytes) -> None:
        if not self.response_started:
            return
        self.response_bytes += len(chunk)
        if self.cache_buffer is not None:
            self.cache_buffer.append(chunk)
            if self.response_bytes > limits.CACHE_ENTRY_BYTES_MAX:
                self.cache_buffer = None
        if self.compress is not None:
            chunk = self.compress.compress(chunk)
            if not chunk:
                return
        if self.chunked_out:
            self.emit(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        else:
            self.emit(chunk)

    def on_response_done(self) -> None:
        if self.done or not self.response_started:
            return
        self.upstream = None
        timer = self.timer
        if timer is not None:
            timer.cancel()
            self.timer = None
        if self.compress is not None:
            tail = self.compress.flush()
            self.compress = None
            if tail:
                if self.chunked_out:
                    self.emit(b"%x\r\n%b\r\n" % (len(tail), tail))
                else:
                    self.emit(tail)
        if self.chunked_out:
            self.emit(b"0\r\n\r\n")
        self.flush_out()
        self.finish_attempt(ok=self.status < 500)
        cached_head = self.cache_head
        if self.cache_buffer is not None and cached_head is not None and self.route is not None \
                and self.route.cache is not None:
            self.route.cache.store(self.cache_key, cached_head[0], cached_head[1],
                                   b"".join(self.cache_buffer), self.gateway.clock())
        self.cache_buffer = None
        self.finish()

    def pause_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.pause()

    def resume_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.resume()

    def on_client_lost(self) -> None:
        if self.done:
            return
        conn = self.upstream
        self.upstream = None
        if conn is not None:
            conn.detach()
        self.cancel_timer()
        if self.ticket is not None and self.route is not None:
            upstream = self.route.upstream
            upstream.waiters.pop(self.ticket, None)
            if not upstream.bulkhead.cancel(self.ticket):
                self.slot = True
            self.ticket = None
        self.finish_attempt(ok=True)  # the client left; the server is not to blame
        self.status = self.status or 499
        self.finish()

    # -- answering ---------------------------------------------------------------------

    def respond_refusal(self, refusal: Refusal) -> None:
        self.respond_error(refusal.status, refusal.message, extra=list(refusal.headers))

    def respond_error(self, status: int, message: str,
                      extra: list[tuple[str, str]] | None = None) -> None:
        if self.done:
            return
        self.cancel_timer()
        self.status = status
        line = self.connection_line()
        self.client.write(error_response(status, message, self.request_id or "-",
                                         close=line is _CLOSE_LINE,
                                         keep_alive=line is _KEEP_ALIVE_LINE, extra=extra,
                                         head_only=self.method == b"HEAD"))
        self.finish(reason=message)

    def connection_line(self) -> bytes:
        """The Connection header of this exchange's answer: ``close`` when the connection
        ends after it (not kept alive, or after an Upgrade the upstream declined, which
        llhttp parses nothing after), ``keep-alive`` for an HTTP/1.0 client that asked
        for it (it would wait for a close otherwise), else none."""
        client = self.client
        if not self.keep_alive or client.closing or client.upgrading:
            return _CLOSE_LINE
        return _KEEP_ALIVE_LINE if self.head.version == "1.0" else b""

    def write_cached(self, cached: Any) -> None:
        status, headers, body, etag = cached
        self.status = status
        inm = self.head.get(b"if-none-match")
        if etag is not None and inm is not None and etag in [t.strip() for t in inm.split(b",")]:
            self.status = 304
            self.client.write(status_line(304) + b"etag: " + etag + b"\r\nx-cache: hit\r\n"
                              b"x-request-id: " + self.request_id.encode() + b"\r\n"
                              + self.connection_line() + b"\r\n")
            self.finish()
            return
        out = [status_line(status)]
        nominated = _nominated(headers)
        for name, value in headers:
            if name in HOP_BY_HOP or name in nominated \
                    or name in (b"content-length", b"x-request-id"):
                continue
            out.append(name + b": " + value + b"\r\n")
        out.append(b"content-length: %d\r\nx-cache: hit\r\nx-request-id: %b\r\n%b\r\n"
                   % (len(body), self.request_id.encode(), self.connection_line()))
        if self.method != b"HEAD":
            out.append(body)
        self.client.write(b"".join(out))
        self.response_bytes = len(body)
        self.finish()

    def finish(self, reason: str = "", now: float | None = None) -> None:
        if self.done:
            return
        if now is None:
            now = self.gateway.clock()
        self.done = True
        # cancel_timer and release_slot inlined: every request passes here.
        self.gateway.deadlines.discard(self)
        timer = self.timer
        if timer is not None:
            timer.cancel()
            self.timer = None
        if self.slot:
            self.slot = False
            assert self.route is not None
            self.route.upstream.release_slot()
        gateway = self.gateway
        route = self.route
        duration_s = now - self.started_at
        gateway.metrics.request(route.name if route else "-", self.status, duration_s)
        if gateway.config.access_log:
            gateway.access_log(self, self.status, reason, duration_s)
        self.client.finished(self, self.keep_alive, now)


def _header_block(headers: list[tuple[bytes, bytes]], keep_hop: bool = False) -> bytes:
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers
                    if keep_hop or name not in HOP_BY_HOP)
