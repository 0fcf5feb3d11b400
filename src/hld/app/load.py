"""``hld load``: realistic open-loop traffic against chirp, through the gateway.

    hld load [--url http://127.0.0.1:8080] [--rps N] [--duration S] [--users N]
             [--seed N] [--mix read=80,post=10,like=5,follow=5] [--burst RPS:AT_S:FOR_S ...]
             [--connections N] [--format table|json|csv] [--quiet]

Set-up signs up (or, when they exist, logs in) ``--users`` users named
``load_user_<i>`` (chirp's usernames allow ``[a-z0-9_]``, not dashes), builds a seeded
Zipf follow graph (a few celebrities followed by many, every user following some) and
writes one post per user so timelines and likes have something to show. The load phase
then sends Poisson arrivals at ``--rps`` (plus any bursts) for ``--duration`` seconds;
who acts and what they do come from ``hld.app.workload``.

Open loop: the schedule never waits for responses. Latency is measured from the instant
a request was *scheduled*, not sent, so a slow server (or a slow generator) shows up in
the percentiles instead of silently lowering the offered rate (coordinated omission).
At most ``--max-in-flight`` requests are outstanding (waiting for one of the
``--connections`` sockets, or on the wire); arrivals beyond that are dropped and counted.
A request is given up ``--timeout`` seconds after its scheduled instant (counted as a
timeout, even if it never left because the generator or the queue for a connection was
that far behind), so the run ends within the duration plus one timeout and a moment.

The client is ours: keep-alive HTTP/1.1 connections as asyncio protocols with httptools'
response parser, driven by callbacks (a finished response hands its connection the next
waiting request), with no task, future or timer per request. Measured here against an
instant fake server, 5 s at 4,000 rps offered on the shared 2-core machine: this design
spent 76-81 us of CPU per request and achieved 3.8-3.9k rps, where a task per request
under ``asyncio.timeout`` spent 142-153 us and achieved 1.8-2.8k; httpx's AsyncClient
(0.28) spent about 8 ms per request here, over 50 times more. ``LoadResult`` reports the
generator's own CPU per request, so a run shows whether the generator was the limit.
``run_load`` returns that result so the demo can drive load in-process. Ctrl-C stops a
run at once (status 130) without a report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import signal
import socket
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast
from urllib.parse import quote, urlsplit

import httptools

from hld.app.workload import (
    DEFAULT_MIX,
    OPERATIONS,
    USERS_MAX,
    Burst,
    Histogram,
    Mix,
    Request,
    Schedule,
    Workload,
    WorkloadError,
    follow_graph,
    parse_burst,
    parse_mix,
)
from hld.runtime.commands import CLIError
from hld.runtime.report import add_format_argument, emit

NAME = "load"

# ---- limits: every bound of the generator, with its reason ------------------------------
CONNECTIONS_MAX = 1_000          # sockets to the gateway; far beyond what 2 cores can use
IN_FLIGHT_MAX = 100_000          # outstanding requests; each holds its encoded bytes
TIMEOUT_S_MAX = 300.0
RESPONSE_BYTES_MAX = 4 * 1024 * 1024  # a timeline page is a few kB; more is a fault
CONNECT_CHECK_TIMEOUT_S = 3.0    # "is anything listening?" before set-up starts
SIGNUP_CONCURRENCY = 4           # sign-ups hash passwords with scrypt (~50 ms of app CPU
                                 # each, on purpose): a crowd of them only queues and times out
SETUP_CONCURRENCY = 16           # follows and first posts are cheap, but many at once only
                                 # queue at a busy app
SETUP_TIMEOUT_S = 30.0           # per set-up request; longer than --timeout for that reason
SETUP_ATTEMPTS_MAX = 6           # per set-up request, on 429/502/503/504 and timeouts
SETUP_BACKOFF_S_MAX = 2.0        # longest wait between set-up attempts
SETUP_FAILURES_SHOWN = 3         # a failed set-up names this many causes
DRAIN_EXTRA_S = 0.5              # after the last timeout could fire, stop waiting
SWEEP_S = 0.05                   # timeouts are checked this often (their precision)
YIELD_EVERY = 64                 # a scheduler that is behind still lets responses in
PROGRESS_INTERVAL_S = 0.25
LATE_ARRIVAL_S = 0.010           # sent this late after its schedule: the generator lagged

USER_PREFIX = "load_user_"
PASSWORD = "hld-load-password"  # noqa: S105 - fixed and public: a rerun logs the users in
DEFAULTS: dict[str, Any] = {
    # Modest defaults: the whole system shares this machine's 2 cores with the generator.
    "url": "http://127.0.0.1:8080", "rps": 50.0, "duration": 30.0, "users": 50,
    "seed": 1, "connections": 64, "max_in_flight": 2_000, "timeout": 5.0,
    "follows": 10, "zipf": 1.0,
}


# ---- configuration and results ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LoadConfig:
    """What ``hld load`` does; ``mix`` and ``bursts`` as parsed by ``hld.app.workload``."""

    url: str = DEFAULTS["url"]
    rps: float = DEFAULTS["rps"]
    duration_s: float = DEFAULTS["duration"]
    users: int = DEFAULTS["users"]
    seed: int = DEFAULTS["seed"]
    mix: Mix = field(default_factory=lambda: parse_mix(DEFAULT_MIX))
    bursts: tuple[Burst, ...] = ()
    connections: int = DEFAULTS["connections"]
    max_in_flight: int = DEFAULTS["max_in_flight"]
    timeout_s: float = DEFAULTS["timeout"]
    follows_per_user: int = DEFAULTS["follows"]
    zipf_s: float = DEFAULTS["zipf"]

    def schedule(self) -> Schedule:
        return Schedule(self.rps, self.duration_s, self.bursts)


@dataclass(frozen=True, slots=True)
class OpStats:
    """Counts and latencies of one operation (or of all: ``op == "all"``).

    ``offered == dropped_by_cap + completed + timeouts + conn_errors``; ``completed`` is
    the sum of ``status``. Latencies are from the scheduled instant, over every response
    (``ok_*`` over 2xx only: what admitted requests saw while others got 429)."""

    op: str
    offered: int
    dropped_by_cap: int
    completed: int
    timeouts: int
    conn_errors: int
    status: dict[int, int]
    achieved_rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    ok_p50_ms: float
    ok_p99_ms: float

    def status_class(self, low: int, high: int, *, except_: int = 0) -> int:
        return sum(n for code, n in self.status.items() if low <= code < high
                   and code != except_)

    @property
    def status_2xx(self) -> int:
        return self.status_class(200, 300)

    @property
    def status_4xx(self) -> int:
        """4xx other than 429 (which is counted apart: it is the gateway's back-pressure)."""
        return self.status_class(400, 500, except_=429)

    @property
    def status_429(self) -> int:
        return self.status.get(429, 0)

    @property
    def status_5xx(self) -> int:
        return self.status_class(500, 600)

    @property
    def status_other(self) -> int:
        return self.completed - self.status_2xx - self.status_4xx - self.status_429 \
            - self.status_5xx


@dataclass(frozen=True, slots=True)
class SetupStats:
    users_created: int
    users_logged_in: int
    follows: int
    posts: int
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Everything one run measured; ``rows()`` is what ``hld load`` prints."""

    url: str
    seed: int
    users: int
    planned_rps: float          # the schedule's mean rate, bursts included
    duration_s: float
    elapsed_s: float            # first arrival to the last response or timeout
    setup: SetupStats
    ops: tuple[OpStats, ...]
    overall: OpStats
    in_flight_max: int          # the most requests outstanding at once
    late_arrivals: int          # sent LATE_ARRIVAL_S or more after their schedule
    ok_p99_ms_in_burst: float   # admitted-request latency while a burst ran ...
    ok_p99_ms_outside_burst: float  # ... and while none did
    sent: int                   # requests handed to a connection (or queued for one)
    cpu_s: float                # this process's CPU time during the load phase
    # From the scheduled instant until written to a socket: the generator's own lag plus
    # the wait for a free connection. When it is large, raise --connections (or the
    # generator is short of CPU: see cpu_us_per_request and late_arrivals).
    send_wait_ms_p99: float = math.nan
    interrupted: bool = False   # Ctrl-C ended the schedule early; figures cover elapsed_s
    ok_p50_ms_in_burst: float = math.nan      # medians of the same two populations: what
    ok_p50_ms_outside_burst: float = math.nan  # queueing moves, whatever the tail's noise

    @property
    def cpu_us_per_request(self) -> float:
        """The generator's own cost: its ceiling is about 1e6 / this per free core."""
        return self.cpu_s / self.sent * 1e6 if self.sent else math.nan

    @property
    def achieved_rps(self) -> float:
        return self.overall.achieved_rps

    def status_codes(self) -> list[int]:
        return sorted(self.overall.status)

    def rows(self) -> list[dict[str, Any]]:
        codes = self.status_codes()
        rows = []
        for stats in (*self.ops, self.overall):
            row: dict[str, Any] = {
                "op": stats.op, "offered": stats.offered,
                "dropped_by_cap": stats.dropped_by_cap, "completed": stats.completed,
                "achieved_rps": round(stats.achieved_rps, 2),
                "p50_ms": _round(stats.p50_ms), "p90_ms": _round(stats.p90_ms),
                "p99_ms": _round(stats.p99_ms), "max_ms": _round(stats.max_ms),
                "ok_p99_ms": _round(stats.ok_p99_ms),
                "status_2xx": stats.status_2xx, "status_4xx": stats.status_4xx,
                "status_429": stats.status_429, "status_5xx": stats.status_5xx,
                "status_other": stats.status_other,
                "timeouts": stats.timeouts, "conn_errors": stats.conn_errors,
            }
            row.update({f"status_{code}": stats.status.get(code, 0) for code in codes})
            rows.append(row)
        # Figures of the whole run go on the "all" row only (empty cells in CSV elsewhere).
        rows[-1].update({
            "planned_rps": round(self.planned_rps, 2), "elapsed_s": round(self.elapsed_s, 3),
            "late_arrivals": self.late_arrivals, "in_flight_max": self.in_flight_max,
            "cpu_us_per_request": _round(self.cpu_us_per_request),
            "send_wait_ms_p99": _round(self.send_wait_ms_p99),
            "ok_p99_ms_in_burst": _round(self.ok_p99_ms_in_burst),
            "ok_p99_ms_outside_burst": _round(self.ok_p99_ms_outside_burst),
            "ok_p50_ms_in_burst": _round(self.ok_p50_ms_in_burst),
            "ok_p50_ms_outside_burst": _round(self.ok_p50_ms_outside_burst),
            "users": self.users, "setup_s": round(self.setup.elapsed_s, 3),
            "interrupted": self.interrupted})
        return rows


def _round(value: float) -> float:
    return value if math.isnan(value) else round(value, 3)


MAIN_COLUMNS = ("op", "offered", "completed", "achieved_rps", "p50_ms", "p90_ms", "p99_ms",
                "max_ms", "ok_p99_ms", "status_2xx", "status_4xx", "status_429",
                "status_5xx", "timeouts", "conn_errors", "dropped_by_cap")


class GatewayUnreachableError(CLIError):
    """Nothing accepts connections at the URL."""


class SetupError(CLIError):
    """Set-up could not sign users up or log them in."""


# ---- the HTTP/1.1 client -----------------------------------------------------------------
class BadResponseError(Exception):
    """The server's bytes are not an HTTP response we accept."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time (no pipelining)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.body = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.closed = False
        self.used = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport; it has its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BadResponseError(f"bad response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionResetError("the server closed the connection"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.body.clear()

    def on_body(self, body: bytes) -> None:
        self.body += body
        if len(self.body) > RESPONSE_BYTES_MAX:
            self._fail(BadResponseError(f"response body over {RESPONSE_BYTES_MAX} bytes"))

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self.parser.get_status_code(), bytes(self.body),
                               self.parser.should_keep_alive()))

    # ours
    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def send(self, data: bytes) -> asyncio.Future[tuple[int, bytes, bool]]:
        assert self.transport is not None
        assert self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.used = True
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class HttpPool:
    """At most ``size`` keep-alive connections to one host; callers queue for a free one."""

    def __init__(self, host: str, port: int, size: int, base_path: str = "") -> None:
        self.host = host
        self.port = port
        self.base_path = base_path
        self._host_header = f"Host: {host}:{port}\r\nUser-Agent: hld-load\r\n".encode()
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, self.host, self.port)
        transport = conn.transport
        if transport is not None:  # requests are small and must leave now, not in 40 ms
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._all.add(conn)
        return conn

    def encode(self, method: str, path: str, body: bytes | None, token: str) -> bytes:
        head = [f"{method} {self.base_path}{path} HTTP/1.1\r\n".encode(), self._host_header]
        if token:
            head.append(f"Authorization: Bearer {token}\r\n".encode())
        if body is not None:
            head.append(b"Content-Type: application/json\r\nContent-Length: %d\r\n"
                        % len(body))
        head.append(b"\r\n")
        if body is not None:
            head.append(body)
        return b"".join(head)

    async def request(self, method: str, path: str, body: bytes | None = None,
                      token: str = "") -> tuple[int, bytes]:
        """(status, body). Raises OSError/BadResponseError; cancel it to time it out."""
        data = self.encode(method, path, body, token)
        async with self._slots:
            # A reused connection may have been closed by the server while idle (its
            # keep-alive timeout): that is not the request's fault, so try a fresh one.
            for _ in range(2):
                conn = self._take_idle() or await self._connect()
                reused = conn.used
                keep = False
                try:
                    status, payload, keep = await conn.send(data)
                except ConnectionResetError:
                    if not reused:
                        raise
                    continue
                finally:
                    if keep and not conn.closed:
                        self._idle.append(conn)
                    else:
                        conn.close()
                        self._all.discard(conn)
                return status, payload
            raise ConnectionResetError("the server closed a fresh connection")

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self._all.discard(conn)
        return None

    def close(self) -> None:
        for conn in self._all:
            conn.close()
        self._all.clear()
        self._idle.clear()


def parse_url(url: str) -> tuple[str, int, str]:
    """(host, port, base path) of an ``http://`` URL; a CLIError names what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise CLIError(f"--url {url!r}: give an http:// URL such as {DEFAULTS['url']} "
                       "(the generator speaks plain HTTP/1.1)")
    try:
        port = parts.port or 80
    except ValueError:
        raise CLIError(f"--url {url!r}: the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise CLIError(f"--url {url!r}: no host")
    if parts.query or parts.fragment:
        raise CLIError(f"--url {url!r}: give the gateway's address without ?query or #part")
    return parts.hostname, port, parts.path.rstrip("/")


async def check_reachable(url: str) -> None:
    """Raise GatewayUnreachableError unless something accepts a TCP connection at ``url``."""
    host, port, _ = parse_url(url)
    try:
        async with asyncio.timeout(CONNECT_CHECK_TIMEOUT_S):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        raise GatewayUnreachableError(f"cannot reach the gateway at {url}: is `hld up` "
                                 "running?") from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


# ---- set-up -----------------------------------------------------------------------------
def username(index: int) -> str:
    return f"{USER_PREFIX}{index}"


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _error_text(status: int, body: bytes) -> str:
    data = _json(body)
    message = data.get("error") if isinstance(data, dict) else None
    return f"{status} {message}" if message else f"{status}"


class _Setup:
    """Sign-up/log-in, the follow graph and a first post per user, ``connections`` at once."""

    def __init__(self, pool: HttpPool, config: LoadConfig, timeout_s: float) -> None:
        self.pool = pool
        self.config = config
        self.timeout_s = timeout_s
        self.failures: list[str] = []
        self.created = 0
        self.logged_in = 0

    async def call(self, method: str, path: str, payload: dict[str, Any] | None,
                   token: str = "") -> tuple[int, bytes]:
        """One set-up request, retried on back-pressure with bounded, growing waits."""
        body = None if payload is None else json.dumps(payload).encode()
        status, data = 0, b""
        for attempt in range(SETUP_ATTEMPTS_MAX):
            try:
                async with asyncio.timeout(self.timeout_s):
                    status, data = await self.pool.request(method, path, body, token)
            except TimeoutError:
                status, data = 0, b"timed out"
            except (OSError, BadResponseError) as exc:
                status, data = 0, str(exc).encode()
            if status not in (0, 429, 502, 503, 504):
                return status, data
            await asyncio.sleep(min(SETUP_BACKOFF_S_MAX, 0.05 * 2 ** attempt))
        return status, data

    async def user(self, index: int) -> str:
        name = username(index)
        creds = {"username": name, "password": PASSWORD}
        status, data = await self.call("POST", "/api/signup", creds)
        if status == 409:
            status, data = await self.call("POST", "/api/login", creds)
            if status == 200:
                self.logged_in += 1
        elif status == 201:
            self.created += 1
        token = _json(data).get("token") if status in (200, 201) and isinstance(
            _json(data), dict) else None
        if not isinstance(token, str):
            reason = _error_text(status, data) if status else data.decode(errors="replace")
            self.failures.append(f"{name}: {reason}")
            return ""
        return token

    async def follow(self, token: str, target: int) -> bool:
        status, _ = await self.call("POST", f"/api/follow/{username(target)}", None, token)
        return status in (200, 201)

    async def post(self, token: str, text: str) -> int | None:
        status, data = await self.call("POST", "/api/posts", {"text": text}, token)
        post_id = _json(data).get("id") if status == 201 and isinstance(_json(data),
                                                                          dict) else None
        return post_id if isinstance(post_id, int) else None


async def _bounded(jobs: Iterable[Callable[[], Any]], concurrency: int) -> list[Any]:
    """Run the coroutine factories ``jobs`` with at most ``concurrency`` at once, in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Any]) -> Any:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(job) for job in jobs)))


async def set_up(pool: HttpPool, config: LoadConfig, workload: Workload,
                 rng: random.Random, say: Callable[[str], None]) -> tuple[list[str],
                                                                      SetupStats]:
    """Users, follow graph and first posts; returns each user's token."""
    started = time.monotonic()
    setup = _Setup(pool, config, max(config.timeout_s, SETUP_TIMEOUT_S))
    say(f"signing up (or logging in) {config.users} users at {config.url}")
    tokens: list[str] = await _bounded(
        [partial(setup.user, i) for i in range(config.users)],
        min(config.connections, SIGNUP_CONCURRENCY))
    if setup.failures:
        shown = "; ".join(setup.failures[:SETUP_FAILURES_SHOWN])
        raise SetupError(f"set-up could not sign up or log in {len(setup.failures)} of "
                          f"{config.users} users ({shown}); is the app running behind "
                          f"the gateway at {config.url}?")
    edges = follow_graph(config.users, config.follows_per_user, rng, config.zipf_s)
    concurrency = min(config.connections, SETUP_CONCURRENCY)
    say(f"following: {len(edges)} follows, then a first post per user")
    followed = await _bounded(
        [partial(setup.follow, tokens[a], b) for a, b in edges], concurrency)
    workload.following = {edge for edge, ok in zip(edges, followed, strict=True) if ok}
    posts = await _bounded(
        [partial(setup.post, tokens[i], workload.post_text(rng, i))
         for i in range(config.users)], concurrency)
    for post_id in posts:
        if post_id is not None:
            workload.note_post(post_id)
    return tokens, SetupStats(setup.created, setup.logged_in, len(workload.following),
                              sum(p is not None for p in posts),
                              time.monotonic() - started)


# ---- the load phase -----------------------------------------------------------------------
class _OpCounters:
    __slots__ = ("completed", "conn_errors", "dropped", "hist", "offered", "ok_hist",
                 "status", "timeouts")

    def __init__(self) -> None:
        self.offered = 0
        self.dropped = 0
        self.completed = 0
        self.timeouts = 0
        self.conn_errors = 0
        self.status: Counter[int] = Counter()
        self.hist = Histogram()
        self.ok_hist = Histogram()

    def snapshot(self, op: str, elapsed_s: float) -> OpStats:
        def ms(hist: Histogram, q: float) -> float:
            return hist.quantile(q) * 1000.0

        return OpStats(
            op=op, offered=self.offered, dropped_by_cap=self.dropped,
            completed=self.completed, timeouts=self.timeouts, conn_errors=self.conn_errors,
            status=dict(sorted(self.status.items())),
            achieved_rps=self.completed / elapsed_s if elapsed_s > 0 else 0.0,
            p50_ms=ms(self.hist, 0.50), p90_ms=ms(self.hist, 0.90),
            p99_ms=ms(self.hist, 0.99),
            max_ms=self.hist.max_s * 1000.0 if self.hist.count else math.nan,
            ok_p50_ms=ms(self.ok_hist, 0.50), ok_p99_ms=ms(self.ok_hist, 0.99))

    def add(self, other: _OpCounters) -> None:
        self.offered += other.offered
        self.dropped += other.dropped
        self.completed += other.completed
        self.timeouts += other.timeouts
        self.conn_errors += other.conn_errors
        self.status.update(other.status)
        self.hist.merge(other.hist)
        self.ok_hist.merge(other.ok_hist)


@dataclass(frozen=True, slots=True)
class Progress:
    """What the progress bar shows, sampled every PROGRESS_INTERVAL_S."""

    elapsed_s: float
    duration_s: float
    rps: float           # responses per second over the last interval
    completed: int
    errors: int          # non-2xx responses, timeouts and connection errors so far
    status_429: int
    in_flight: int
    dropped_by_cap: int


class _Item:
    """One scheduled request on its way: waiting for a connection, or on the wire."""

    __slots__ = ("data", "in_burst", "req", "retried", "scheduled")

    def __init__(self, req: Request, scheduled: float, in_burst: bool, data: bytes) -> None:
        self.req = req
        self.scheduled = scheduled
        self.in_burst = in_burst
        self.data = data
        self.retried = False


class _LoadConnection(asyncio.Protocol):
    """A keep-alive connection driven by callbacks: no task or future per request."""

    def __init__(self, engine: _Engine) -> None:
        self.engine = engine
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.body = bytearray()
        self.item: _Item | None = None
        self.closed = False
        self.requests = 0
        self.used = False          # carried a request before the current one
        self.answered = False      # bytes of the current request's response arrived

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # requests are small and must leave now, not in 40 ms
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()  # connection_lost reports the request as a connection error

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.engine.lost(self)

    def on_message_begin(self) -> None:
        self.body.clear()

    def on_body(self, body: bytes) -> None:
        self.body += body
        if len(self.body) > RESPONSE_BYTES_MAX:
            self.close()

    def on_message_complete(self) -> None:
        item, self.item = self.item, None
        if item is not None:
            self.engine.completed(self, item, self.parser.get_status_code(),
                                  bytes(self.body), self.parser.should_keep_alive())

    def start(self, item: _Item) -> None:
        assert self.transport is not None
        self.used = self.requests > 0
        self.requests += 1
        self.item = item
        self.answered = False
        if not item.retried:
            self.engine.run.send_wait.record(self.engine.loop.time() - item.scheduled)
        self.transport.write(item.data)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.transport.close()


class _Engine:
    """Connections, the queue of requests waiting for one, and timeouts.

    Requests wait in a FIFO for a free connection; a connection that finishes a response
    takes the next one in its own callback. At most ``connections`` sockets are open;
    a request is given up ``timeout_s`` after its scheduled instant (checked every
    ``SWEEP_S``), whether it still waits or is on the wire (then its socket is closed:
    HTTP/1.1 cannot abandon one response and keep the connection)."""

    def __init__(self, run: _Run, host: str, port: int) -> None:
        self.run = run
        self.host = host
        self.port = port
        self.connections_max = run.config.connections
        self.timeout_s = run.config.timeout_s
        self.loop = asyncio.get_running_loop()
        self.pending: deque[_Item] = deque()
        self.idle: list[_LoadConnection] = []
        self.live: set[_LoadConnection] = set()
        self.opening = 0
        self.connect_tasks: set[asyncio.Task[None]] = set()

    def submit(self, item: _Item) -> None:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                conn.start(item)
                return
        self.pending.append(item)
        if len(self.pending) > self.opening \
                and len(self.live) + self.opening < self.connections_max:
            self._open()

    def _open(self) -> None:
        self.opening += 1
        task = self.loop.create_task(self._connect())
        self.connect_tasks.add(task)
        task.add_done_callback(self.connect_tasks.discard)

    async def _connect(self) -> None:
        try:
            _, conn = await self.loop.create_connection(
                lambda: _LoadConnection(self), self.host, self.port)
        except OSError:
            conn = None
        self.opening -= 1
        if conn is None or conn.closed:  # refused, or closed before we could use it
            # The request that wanted this connection fails as it would on its own socket.
            if self.pending:
                self.run.failed(self.pending.popleft(), timeout=False)
            if self.pending and len(self.live) + self.opening < self.connections_max:
                self._open()
            return
        self.live.add(conn)
        self._next(conn)

    def _next(self, conn: _LoadConnection) -> None:
        if self.pending:
            conn.start(self.pending.popleft())
        else:
            self.idle.append(conn)

    def completed(self, conn: _LoadConnection, item: _Item, status: int, body: bytes,
                  keep_alive: bool) -> None:
        self.run.answered(item, status, body)
        if keep_alive and not conn.closed:
            self._next(conn)
        else:
            conn.close()

    def lost(self, conn: _LoadConnection) -> None:
        self.live.discard(conn)
        item, conn.item = conn.item, None
        if item is not None:
            # A reused connection the server closed while idle (its keep-alive timeout)
            # is not the request's fault: it goes first in line again, once.
            if conn.used and not conn.answered and not item.retried:
                item.retried = True
                self.pending.appendleft(item)
            else:
                self.run.failed(item, timeout=False)
        if self.pending and len(self.live) + self.opening < self.connections_max:
            self._open()

    def sweep(self, now: float) -> None:
        """Give up every request scheduled more than ``timeout_s`` before ``now``."""
        deadline = now - self.timeout_s
        while self.pending and self.pending[0].scheduled <= deadline:
            self.run.failed(self.pending.popleft(), timeout=True)
        for conn in list(self.live):
            item = conn.item
            if item is not None and item.scheduled <= deadline:
                conn.item = None
                self.run.failed(item, timeout=True)
                conn.close()

    def close(self) -> None:
        for task in self.connect_tasks:
            task.cancel()
        for conn in self.live:
            conn.close()
        self.idle.clear()


class _Run:
    """The open-loop scheduler and the accounting of one load phase."""

    def __init__(self, config: LoadConfig, workload: Workload, tokens: list[str],
                 encode: Callable[[str, str, bytes | None, str], bytes]) -> None:
        self.config = config
        self.schedule = config.schedule()
        self.workload = workload
        self.tokens = tokens
        self.encode = encode
        self.counters = {op: _OpCounters() for op in OPERATIONS}
        self.ok_in_burst = Histogram()
        self.ok_outside_burst = Histogram()
        self.send_wait = Histogram()  # scheduled instant -> written on a connection
        self.in_flight = 0
        self.in_flight_max = 0
        self.sent = 0
        self.late = 0
        self.errors = 0
        self.status_429 = 0
        self.completed = 0
        self.drained = asyncio.Event()
        self.interrupted = False

    def interrupt(self) -> None:
        """Ctrl-C: stop scheduling; a second one abandons the requests still out."""
        if self.interrupted:
            self.drained.set()
        self.interrupted = True

    def _request(self, req: Request) -> tuple[str, str, bytes | None]:
        op = req.op
        if op == "home":
            return "GET", "/api/timeline?limit=20", None
        if op == "user_posts":
            return "GET", f"/api/users/{quote(username(req.target))}/posts?limit=20", None
        if op == "profile":
            return "GET", f"/api/users/{quote(username(req.target))}", None
        if op == "trending":
            return "GET", "/api/trending", None
        if op == "post":
            return "POST", "/api/posts", json.dumps({"text": req.text}).encode()
        if op == "like":
            return "POST", f"/api/posts/{req.post_id}/like", None
        if op == "follow":
            return "POST", f"/api/follow/{quote(username(req.target))}", None
        if op == "unfollow":
            return "DELETE", f"/api/follow/{quote(username(req.target))}", None
        raise AssertionError(f"unknown operation {op}")

    # -- outcomes (called from connection callbacks) ----------------------------------------
    def _done(self, req: Request, status: int) -> None:
        self.in_flight -= 1
        self._settle(req, status)
        if self.in_flight == 0:
            self.drained.set()

    def answered(self, item: _Item, status: int, body: bytes) -> None:
        latency_s = asyncio.get_running_loop().time() - item.scheduled
        req = item.req
        counters = self.counters[req.op]
        counters.completed += 1
        self.completed += 1
        counters.status[status] += 1
        counters.hist.record(latency_s)
        if 200 <= status < 300:
            counters.ok_hist.record(latency_s)
            (self.ok_in_burst if item.in_burst else self.ok_outside_burst).record(latency_s)
            if req.op == "post":
                post = _json(body)
                if isinstance(post, dict) and isinstance(post.get("id"), int):
                    self.workload.note_post(post["id"])
        else:
            self.errors += 1
            self.status_429 += status == 429
        self._done(req, status)

    def failed(self, item: _Item, *, timeout: bool) -> None:
        counters = self.counters[item.req.op]
        if timeout:
            counters.timeouts += 1
        else:
            counters.conn_errors += 1
        self.errors += 1
        self._done(item.req, 0)

    def _settle(self, req: Request, status: int) -> None:
        """Undo the model's follow toggle when the server did not apply it."""
        if req.op == "follow" and status not in (200, 201):
            self.workload.following.discard((req.actor, req.target))
        elif req.op == "unfollow" and status not in (200, 404):
            self.workload.following.add((req.actor, req.target))

    # -- the schedule ---------------------------------------------------------------------------
    def progress(self, started: float, last: tuple[float, int]) -> tuple[Progress,
                                                                        tuple[float, int]]:
        now = asyncio.get_running_loop().time()
        window_s = now - last[0]
        rps = (self.completed - last[1]) / window_s if window_s > 0 else 0.0
        dropped = sum(c.dropped for c in self.counters.values())
        snap = Progress(now - started, self.config.duration_s, rps, self.completed,
                        self.errors, self.status_429, self.in_flight, dropped)
        return snap, (now, self.completed)

    async def run(self, engine: _Engine, rng_arrivals: random.Random,
                  rng_ops: random.Random,
                  on_progress: Callable[[Progress], None] | None) -> tuple[float, float]:
        """Send every arrival; returns (start, end) in loop time."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        helpers = [loop.create_task(self._sweep(engine))]
        if on_progress is not None:
            helpers.append(loop.create_task(self._tick(started, on_progress)))
        unyielded = 0
        cap = self.config.max_in_flight
        timeout_s = self.config.timeout_s
        for t_s in self.schedule.arrivals(rng_arrivals):
            if self.interrupted:
                break
            req = self.workload.next_request(rng_ops)
            counters = self.counters[req.op]
            counters.offered += 1
            scheduled = started + t_s
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                unyielded = 0
            else:
                if -delay >= LATE_ARRIVAL_S:
                    self.late += 1
                unyielded += 1
                if unyielded >= YIELD_EVERY:  # let responses in while catching up
                    await asyncio.sleep(0)
                    unyielded = 0
            if -delay >= timeout_s:  # the generator is so far behind it would be given up
                counters.timeouts += 1
                self.errors += 1
                self._settle(req, 0)
                continue
            if self.in_flight >= cap:
                counters.dropped += 1
                self._settle(req, 0)
                continue
            self.in_flight += 1
            self.sent += 1
            self.in_flight_max = max(self.in_flight_max, self.in_flight)
            self.drained.clear()
            method, path, body = self._request(req)
            engine.submit(_Item(req, scheduled, self.schedule.in_burst(t_s),
                                self.encode(method, path, body, self.tokens[req.actor])))
        # Drain: the sweeper gives up every request timeout_s after its schedule.
        if self.in_flight:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.timeout_s + SWEEP_S + DRAIN_EXTRA_S):
                    await self.drained.wait()
            engine.sweep(math.inf)  # the backstop: nothing stays unaccounted
        ended = loop.time()
        for task in helpers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if on_progress is not None:
            on_progress(self.progress(started, (started, 0))[0])
        return started, ended

    async def _sweep(self, engine: _Engine) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_S)
            engine.sweep(loop.time())

    async def _tick(self, started: float, on_progress: Callable[[Progress], None]) -> None:
        last = (started, 0)
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            snap, last = self.progress(started, last)
            on_progress(snap)

    def result(self, setup: SetupStats, elapsed_s: float, cpu_s: float) -> LoadResult:
        ops = tuple(c.snapshot(op, elapsed_s) for op, c in self.counters.items()
                    if c.offered)
        total = _OpCounters()
        for c in self.counters.values():
            total.add(c)
        config = self.config
        return LoadResult(
            url=config.url, seed=config.seed, users=config.users,
            planned_rps=self.schedule.expected_arrivals() / config.duration_s,
            duration_s=config.duration_s, elapsed_s=elapsed_s, setup=setup, ops=ops,
            overall=total.snapshot("all", elapsed_s), in_flight_max=self.in_flight_max,
            late_arrivals=self.late,
            ok_p99_ms_in_burst=self.ok_in_burst.quantile(0.99) * 1000.0,
            ok_p99_ms_outside_burst=self.ok_outside_burst.quantile(0.99) * 1000.0,
            sent=self.sent, cpu_s=cpu_s, send_wait_ms_p99=self.send_wait.quantile(0.99) * 1000.0,
            interrupted=self.interrupted,
            ok_p50_ms_in_burst=self.ok_in_burst.quantile(0.5) * 1000.0,
            ok_p50_ms_outside_burst=self.ok_outside_burst.quantile(0.5) * 1000.0)


# ---- entry points ---------------------------------------------------------------------------
def _rngs(seed: int) -> tuple[random.Random, random.Random, random.Random]:
    """Independent streams, so changing the mix does not move the arrival instants."""
    return (random.Random(f"{seed}:setup"), random.Random(f"{seed}:arrivals"),
            random.Random(f"{seed}:operations"))


def validate(config: LoadConfig) -> None:
    """Raise CLIError for a configuration that cannot run (before touching the network)."""
    parse_url(config.url)
    try:
        config.schedule()
    except WorkloadError as exc:
        raise CLIError(str(exc)) from None
    if not 1 <= config.users <= USERS_MAX:
        raise CLIError(f"--users must be between 1 and {USERS_MAX}, got {config.users}")
    if not 1 <= config.connections <= CONNECTIONS_MAX:
        raise CLIError(f"--connections must be between 1 and {CONNECTIONS_MAX}, "
                       f"got {config.connections}")
    if not 1 <= config.max_in_flight <= IN_FLIGHT_MAX:
        raise CLIError(f"--max-in-flight must be between 1 and {IN_FLIGHT_MAX}, "
                       f"got {config.max_in_flight}")
    if not (math.isfinite(config.timeout_s) and 0.0 < config.timeout_s <= TIMEOUT_S_MAX):
        raise CLIError(f"--timeout must be > 0 and <= {TIMEOUT_S_MAX:g} s, "
                       f"got {config.timeout_s:g}")
    if not (math.isfinite(config.zipf_s) and config.zipf_s >= 0.0):
        raise CLIError(f"--zipf must be a finite number >= 0, got {config.zipf_s:g}")
    if config.follows_per_user < 0:
        raise CLIError(f"--follows must be >= 0, got {config.follows_per_user}")


async def run_load_async(config: LoadConfig,
                         on_progress: Callable[[Progress], None] | None = None,
                         on_setup: Callable[[SetupStats], None] | None = None,
                         say: Callable[[str], None] | None = None, *,
                         interruptible: bool = False) -> LoadResult:
    """Set up, then load, against ``config.url``; the in-process entry point.

    ``on_progress`` gets a ``Progress`` every PROGRESS_INTERVAL_S of the load phase,
    ``on_setup`` the set-up's figures when it is done, ``say`` a line per set-up stage.
    ``interruptible`` (the command, in the main thread): Ctrl-C during the load phase
    ends the schedule and the result covers what ran (``interrupted``)."""
    validate(config)
    await check_reachable(config.url)
    host, port, base_path = parse_url(config.url)
    rng_setup, rng_arrivals, rng_ops = _rngs(config.seed)
    try:
        workload = Workload(config.users, config.mix, rng_setup, s=config.zipf_s)
    except WorkloadError as exc:
        raise CLIError(str(exc)) from None
    pool = HttpPool(host, port, config.connections, base_path)
    try:
        tokens, setup = await set_up(pool, config, workload, rng_setup,
                                     say or (lambda _line: None))
        if on_setup is not None:
            on_setup(setup)
        run = _Run(config, workload, tokens, pool.encode)
        engine = _Engine(run, host, port)
        cpu_started = time.process_time()
        try:
            if interruptible:
                asyncio.get_running_loop().add_signal_handler(signal.SIGINT, run.interrupt)
            started, ended = await run.run(engine, rng_arrivals, rng_ops, on_progress)
        finally:
            if interruptible:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
            engine.close()
        return run.result(setup, ended - started, time.process_time() - cpu_started)
    finally:
        pool.close()
        await asyncio.sleep(0)  # lets the loop finish closing the sockets before it ends


def run_load(config: LoadConfig,
             on_progress: Callable[[Progress], None] | None = None,
             on_setup: Callable[[SetupStats], None] | None = None,
             say: Callable[[str], None] | None = None, *,
             interruptible: bool = False) -> LoadResult:
    """``run_load_async`` on a fresh uvloop event loop (for callers without one)."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(run_load_async(config, on_progress, on_setup, say,
                                         interruptible=interruptible))


# ---- the command --------------------------------------------------------------------------
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the usage block
    d = DEFAULTS
    parser.add_argument("--url", default=d["url"],
                        help=f"the gateway (default: {d['url']})")
    parser.add_argument("--rps", type=_positive_float, default=d["rps"],
                        help=f"mean arrivals per second, Poisson (default: {d['rps']:g})")
    parser.add_argument("--duration", type=_positive_float, default=d["duration"],
                        metavar="S", help=f"seconds of load (default: {d['duration']:g})")
    parser.add_argument("--users", type=int, default=d["users"],
                        help=f"users load_user_0.. to sign up (default: {d['users']})")
    parser.add_argument("--seed", type=int, default=d["seed"],
                        help=f"seed of every random draw (default: {d['seed']})")
    parser.add_argument("--mix", default=DEFAULT_MIX,
                        help="operation weights: read (home, user_posts, profile, trending) "
                             f"and post, like, follow (default: {DEFAULT_MIX})")
    parser.add_argument("--burst", action="extend", nargs="+", default=[],
                        metavar="RPS:AT_S:FOR_S",
                        help="RPS extra arrivals per second from AT_S for FOR_S seconds "
                             "(repeatable)")
    parser.add_argument("--connections", type=int, default=d["connections"],
                        help=f"keep-alive connections to the gateway (default: "
                             f"{d['connections']})")
    parser.add_argument("--max-in-flight", type=int, default=d["max_in_flight"],
                        help="outstanding requests at most; later arrivals are dropped "
                             f"and counted (default: {d['max_in_flight']})")
    parser.add_argument("--timeout", type=_positive_float, default=d["timeout"],
                        metavar="S", help=f"per-request timeout (default: {d['timeout']:g})")
    parser.add_argument("--follows", type=int, default=d["follows"],
                        help=f"follows per user in set-up (default: {d['follows']})")
    parser.add_argument("--zipf", type=_positive_float, default=d["zipf"], metavar="S",
                        help=f"Zipf exponent of user popularity (default: {d['zipf']:g})")
    add_format_argument(parser)
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar and no set-up line on stderr")


def config_from(args: argparse.Namespace) -> LoadConfig:
    try:
        mix = parse_mix(args.mix)
        bursts = tuple(parse_burst(text) for text in args.burst)
    except WorkloadError as exc:
        raise CLIError(str(exc)) from None
    if args.rps <= 0:
        raise CLIError(f"--rps must be > 0, got {args.rps:g}")
    if args.duration <= 0:
        raise CLIError(f"--duration must be > 0, got {args.duration:g}")
    config = LoadConfig(url=args.url, rps=args.rps, duration_s=args.duration,
                        users=args.users, seed=args.seed, mix=mix, bursts=bursts,
                        connections=args.connections, max_in_flight=args.max_in_flight,
                        timeout_s=args.timeout, follows_per_user=args.follows,
                        zipf_s=args.zipf)
    validate(config)
    return config


class _Bar:
    """A rich progress bar on stderr: elapsed, responses per second, errors."""

    def __init__(self, duration_s: float) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("load"), BarColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[rps]:>8.0f} rps"),
            TextColumn("{task.fields[errors]:>7} errors ({task.fields[s429]} x 429)"),
            TextColumn("{task.fields[in_flight]:>5} in flight"),
            console=Console(stderr=True), transient=False)
        self._task = self._progress.add_task("load", total=duration_s, rps=0.0, errors=0,
                                             s429=0, in_flight=0)
        self._started = False

    def start(self) -> None:
        self._started = True
        self._progress.start()

    def stop(self) -> None:
        if self._started:  # rich prints an empty line when stopping a bar never started
            self._progress.stop()

    def update(self, snap: Progress) -> None:
        self._progress.update(self._task, completed=min(snap.elapsed_s, snap.duration_s),
                              rps=snap.rps, errors=snap.errors, s429=snap.status_429,
                              in_flight=snap.in_flight)


def _summary(result: LoadResult) -> str:
    bursts = ""
    if not math.isnan(result.ok_p99_ms_in_burst):
        bursts = (f"; admitted p99 {result.ok_p99_ms_in_burst:.1f} ms in bursts, "
                  f"{result.ok_p99_ms_outside_burst:.1f} ms outside")
    planned = (f"interrupted after {result.elapsed_s:.1f} of {result.duration_s:g} s"
               if result.interrupted else f"over {result.duration_s:g} s")
    return (f"load: {result.overall.offered:,} arrivals at {result.planned_rps:,.0f} rps "
            f"planned {planned}; achieved {result.achieved_rps:,.1f} rps; "
            f"{result.overall.dropped_by_cap} dropped by the in-flight cap, "
            f"{result.late_arrivals} sent late, p99 {result.send_wait_ms_p99:.1f} ms from "
            f"schedule to socket; generator CPU "
            f"{result.cpu_us_per_request:.0f} us/request{bursts}")


def run(args: argparse.Namespace) -> int:
    config = config_from(args)

    def say(line: str) -> None:
        if not args.quiet:
            print(f"hld load: {line}", file=sys.stderr)

    def on_setup(setup: SetupStats) -> None:
        say(f"set up {config.users} users ({setup.users_created} new, "
            f"{setup.users_logged_in} logged in), {setup.follows} follows, {setup.posts} "
            f"posts in {setup.elapsed_s:.1f} s; loading for {config.duration_s:g} s")
        if bar is not None:
            bar.start()

    # The bar is for a person watching: never in a pipe or a log file.
    bar = _Bar(config.duration_s) if not args.quiet and sys.stderr.isatty() else None
    try:
        result = run_load(config, bar.update if bar else None, on_setup, say,
                          interruptible=True)
    finally:
        if bar is not None:
            bar.stop()
    rows = result.rows()
    if args.format == "table":
        emit(NAME, rows, "table", title=_summary(result), columns=MAIN_COLUMNS)
        codes = [f"status_{code}" for code in result.status_codes()]
        if codes:
            emit(NAME, rows, "table", title="status codes", columns=["op", *codes])
    else:
        emit(NAME, rows, args.format, columns=list(rows[-1]))
    return 130 if result.interrupted else 0  # the shell's status for "ended by Ctrl-C"
