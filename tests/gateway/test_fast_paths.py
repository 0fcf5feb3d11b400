"""The gateway's fast paths answer exactly as its general path does.

Four shortcuts serve the common case: a read repeating the last whole bodiless request
skips llhttp (``ClientConnection.repeat``); the route and the forwarded request head are
remembered per repeated head; a whole Content-Length response with a known head is
written in one step (``upstream.whole_response`` and ``Exchange.on_whole_response``);
the access log line is written by hand. Each test here drives a real gateway process
with raw sockets and checks what the shortcut must not change: the same bytes reach the
upstream and the client as when the general path runs (a request split across reads, a
response split across reads), the same statuses, ids, connection handling, log lines and
metrics.

``ScriptedUpstream`` is a raw HTTP/1.1 server in a thread of the test process that
answers canned bytes per path, so a response can be sent whole (the fast path) or split
inside its status line (llhttp's path) and the two relayed answers compared byte for byte.
"""

from __future__ import annotations

import base64
import gzip
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest

from tests.gateway.conftest import (
    GatewayProcess,
    Upstream,
    metric_value,
    running_gateway,
    running_upstreams,
    start,
    wait_until,
)
from tests.gateway.upstream_app import ws_frame

pytestmark = pytest.mark.blackbox

READ_TIMEOUT_S = 5.0
SPLIT_PAUSE_S = 0.05  # between the two writes of a split response (two reads, surely)
# Lines that differ per request by design: ids and the deadline left.
_PER_REQUEST = re.compile(rb"^(x-request-id|traceparent|x-hld-deadline-ms):.*$",
                          re.IGNORECASE | re.MULTILINE)


def canned(status: str, headers: list[str], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


BIG_TEXT = (b"fast path, general path; " * 100)[:2000]
RESPONSES = {
    "/ok": canned("200 OK", ["Content-Type: application/json", "Content-Length: 11",
                             "X-Upstream: scripted"], b'{"ok":true}'),
    "/created": canned("201 Created", ["Content-Type: application/json",
                                       "Location: /things/1", "Content-Length: 2"], b"{}"),
    "/missing": canned("404 Not Found", ["Content-Type: text/plain", "Content-Length: 7"],
                       b"missing"),
    "/broken": canned("500 Internal Server Error", ["Content-Type: text/plain",
                                                    "Content-Length: 6"], b"broken"),
    "/empty": canned("200 OK", ["Content-Length: 0"], b""),
    "/big": canned("200 OK", ["Content-Type: text/plain; charset=utf-8",
                              f"Content-Length: {len(BIG_TEXT)}"], BIG_TEXT),
    "/own-id": canned("200 OK", ["X-Request-ID: from-upstream", "Content-Length: 2"], b"ok"),
    # Connection names a header of this hop only: a proxy must remove it (RFC 9110 7.6.1).
    "/nominated": canned("200 OK", ["Connection: x-hop-secret", "X-Hop-Secret: internal",
                                    "Content-Type: text/plain", "Content-Length: 2"], b"ok"),
    "/no-content": canned("204 No Content", ["X-Upstream: scripted"], b""),
    "/not-modified": canned("304 Not Modified", ['ETag: "v1"', "Cache-Control: max-age=5"],
                            b""),
    # An interim response and the final one in the same write.
    "/continue": b"HTTP/1.1 100 Continue\r\n\r\n" + canned(
        "200 OK", ["Content-Type: application/json", "Content-Length: 11"], b'{"ok":true}'),
    # A keep-alive answer after which this upstream closes the connection anyway (the
    # server's own limit of requests per connection, say).
    "/then-close": canned("200 OK", ["Content-Type: text/plain", "Content-Length: 4"],
                          b"last"),
}


@dataclass
class ScriptedUpstream:
    """Canned responses per path; ``?split=1`` sends a response in two writes with a
    pause inside its status line. Every request head received is recorded."""

    sock: socket.socket = field(default_factory=socket.socket)
    heads: list[bytes] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    connections: int = 0
    hangups: int = 0  # connections this upstream closed after a /then-close answer

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def start(self) -> ScriptedUpstream:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self._spawn(self._accept)
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=READ_TIMEOUT_S)
        self.sock.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            hung_up = self._serve_requests(conn)
        if hung_up:
            self.hangups += 1

    def _serve_requests(self, conn: socket.socket) -> bool:
        """Answer requests until the peer leaves (False) or a /then-close answer (True)."""
        conn.settimeout(0.1)
        buffer = b""
        while not self.stopping.is_set():
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return False
            if not chunk:
                return False
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if len(rest) < length:
                    break
                buffer = rest[length:]
                self.heads.append(head)
                if not self._answer(conn, head):
                    return True  # closed without reading what else arrived
        return False

    def _answer(self, conn: socket.socket, head: bytes) -> bool:
        """Send the canned response; False when this connection ends after it."""
        method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
        path, _, query = target.decode().partition("?")
        response = RESPONSES.get(path, RESPONSES["/missing"])
        if method == b"HEAD":
            response = response[:response.rindex(b"\r\n\r\n") + 4]  # no body has one
        if "split=1" in query:
            conn.sendall(response[:5])
            time.sleep(SPLIT_PAUSE_S)
            conn.sendall(response[5:])
        else:
            conn.sendall(response)
        return path != "/then-close"


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scripted() -> Iterator[ScriptedUpstream]:
    upstream = ScriptedUpstream().start()
    try:
        yield upstream
    finally:
        upstream.stop()


@pytest.fixture(scope="module")
def app(processes: ExitStack) -> Upstream:
    result: dict[str, Upstream] = start(processes, running_upstreams("a"))
    return result["a"]


@pytest.fixture(scope="module")
def gw(processes: ExitStack, app: Upstream, scripted: ScriptedUpstream,
       tmp_path_factory: pytest.TempPathFactory) -> GatewayProcess:
    config = f"""
[upstreams.app]
servers = ["{app.url}"]
retry_base_s = 0.001
[upstreams.scripted]
servers = ["{scripted.url}"]
retry_base_s = 0.001
retry_budget_min_per_s = 1000.0
breaker = false
[upstreams.scripted.outlier]
consecutive_failures = 1000000

[[routes]]
name = "gz"
prefix = "/gz/"
rewrite = "/"
upstream = "scripted"

[[routes]]
name = "plain"
prefix = "/plain/"
rewrite = "/"
upstream = "scripted"
gzip = false

[[routes]]
name = "cached"
prefix = "/cached/"
rewrite = "/"
upstream = "app"
[routes.cache]
ttl_s = 60.0

[[routes]]
name = "get-only"
prefix = "/get-only/"
rewrite = "/echo/"
upstream = "app"
methods = ["GET"]

[[routes]]
name = "echo"
prefix = "/echo"
upstream = "app"

[[routes]]
name = "slow"
prefix = "/slow"
upstream = "app"

[[routes]]
name = "retried"
prefix = "/fail-then-ok"
upstream = "app"

[[routes]]
name = "ws"
prefix = "/ws"
upstream = "app"
"""
    gateway: GatewayProcess = start(processes,
                                    running_gateway(config, tmp_path_factory.mktemp("fast")))
    return gateway


# -- a raw client ---------------------------------------------------------------------


class Client:
    """One raw connection to the gateway that reads whole responses (Content-Length,
    chunked, or up to the close) and keeps what arrives beyond them."""

    def __init__(self, gw: GatewayProcess) -> None:
        self.sock = socket.create_connection(("127.0.0.1", gw.port), timeout=READ_TIMEOUT_S)
        self.buffer = b""

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def _take(self, size: int) -> bytes:
        while len(self.buffer) < size:
            assert self._more(), f"closed after {self.buffer!r}"
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            assert self._more(), f"closed after {self.buffer!r}"
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def response(self, head_request: bool = False) -> tuple[bytes, bytes]:
        """The next response: its head (without the blank line) and its decoded body."""
        while b"\r\n\r\n" not in self.buffer:
            assert self._more(), f"closed after {self.buffer!r}"
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        fields = header_map(head)
        status = int(head[9:12])
        if head_request or status in (204, 304) or 100 <= status < 200:
            return head, b""
        if "content-length" in fields:
            return head, self._take(int(fields["content-length"]))
        if fields.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(self._line().split(b";")[0], 16):
                body += self._take(size)
                assert self._take(2) == b"\r\n"
            while self._line():
                pass
            return head, body
        while self._more():
            pass
        body, self.buffer = self.buffer, b""
        return head, body

    def closed(self) -> bool:
        """Whether the gateway closed the connection (after what was read)."""
        try:
            return not self._more() and not self.buffer
        except (TimeoutError, ConnectionResetError):
            return False


def header_map(head: bytes) -> dict[str, str]:
    out = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        out[name.strip().lower().decode()] = value.strip().decode("latin-1")
    return out


def without_ids(data: bytes) -> bytes:
    return _PER_REQUEST.sub(b"", data)


def request(path: str, *extra: str, method: str = "GET", version: str = "1.1",
            body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: fast.example", *extra]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def exchange(gw: GatewayProcess, data: bytes, head_request: bool = False) -> tuple[bytes, bytes]:
    with Client(gw) as client:
        client.send(data)
        return client.response(head_request)


# -- responses: the one-step path writes what llhttp's path writes ----------------------

REQUEST_KINDS = {
    "get": ("GET", "1.1", []),
    "get-gzip": ("GET", "1.1", ["Accept-Encoding: gzip, deflate"]),
    "head": ("HEAD", "1.1", ["Accept-Encoding: gzip"]),
    "post": ("POST", "1.1", []),
    "close": ("GET", "1.1", ["Connection: close"]),
    "http10": ("GET", "1.0", []),
    "http10-keep-alive": ("GET", "1.0", ["Connection: keep-alive"]),
}
CLOSING_KINDS = {"close", "http10"}


@pytest.mark.parametrize("kind", sorted(REQUEST_KINDS))
def test_a_whole_response_is_relayed_as_a_split_one_is(
        gw: GatewayProcess, scripted: ScriptedUpstream, kind: str) -> None:
    method, version, extra = REQUEST_KINDS[kind]
    differences = []
    hangups = scripted.hangups
    for route in ("gz", "plain"):
        for path in sorted(RESPONSES):
            answers = []
            for split in ("", "?split=1"):
                with Client(gw) as client:
                    client.send(request(f"/{route}{path}{split}", *extra, method=method,
                                        version=version))
                    head, body = client.response(head_request=method == "HEAD")
                    closed = client.closed() if kind in CLOSING_KINDS else None
                answers.append((without_ids(head), body, closed))
                if path == "/then-close":
                    # The next request must not race the upstream's close: one sent down
                    # the closing connection is lost, and a POST may not be retried.
                    wait_until(lambda: scripted.hangups > hangups, timeout_s=5.0)
                    hangups = scripted.hangups
            if answers[0] != answers[1]:
                differences.append((route, path, answers[0], answers[1]))
    assert differences == []


def test_pipelined_requests_answered_whole_and_split_arrive_in_order(
        gw: GatewayProcess) -> None:
    paths = ["/plain/ok", "/plain/missing?split=1", "/plain/created", "/plain/empty",
             "/plain/ok?split=1", "/plain/big"]
    with Client(gw) as client:
        client.send(b"".join(request(p) for p in paths))
        statuses = [int(client.response()[0][9:12]) for _ in paths]
    assert statuses == [200, 404, 201, 200, 200, 200]


def test_more_pipelined_requests_than_the_queue_holds_are_all_answered_in_order(
        gw: GatewayProcess) -> None:
    paths = [f"/plain/{'ok' if i % 3 else 'created'}{'?split=1' if i % 7 == 0 else ''}"
             for i in range(40)]
    with Client(gw) as client:
        client.send(b"".join(request(p) for p in paths))
        statuses = [int(client.response()[0][9:12]) for _ in paths]
    assert statuses == [201 if i % 3 == 0 else 200 for i in range(40)]


def test_the_same_request_sent_again_while_the_first_is_in_flight_is_queued_not_skipped(
        gw: GatewayProcess, app: Upstream) -> None:
    data = request("/slow?ms=150")
    before = app.hits("/slow")
    with Client(gw) as client:
        for _ in range(3):  # three reads, each the last one again, none waiting
            client.send(data)
            time.sleep(0.02)
        ids = [header_map(client.response()[0])["x-request-id"] for _ in range(3)]
        client.send(data)  # and once more after all three were answered
        ids.append(header_map(client.response()[0])["x-request-id"])
    assert (len(set(ids)), app.hits("/slow") - before) == (4, 4)


# -- requests: a repeated read sends upstream what a parsed one sends ------------------

REPEATED_REQUESTS = {
    "plain": request("/plain/ok"),
    "request-id": request("/plain/ok", "X-Request-ID: client-chosen-1"),
    "traceparent": request(
        "/plain/ok", "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    "deadline": request("/plain/ok", "x-hld-deadline-ms: 800"),
    "forwarded-for": request("/plain/ok", "X-Forwarded-For: 203.0.113.9"),
    "http10-keep-alive": request("/plain/ok", "Connection: keep-alive", version="1.0"),
    "post-empty": request("/plain/ok", method="POST"),
    "expect": request("/plain/ok", "Expect: 100-continue"),
    "options": request("/plain/ok", method="OPTIONS"),
    "head": request("/plain/ok", method="HEAD"),
    "gzip-accepted": request("/gz/big", "Accept-Encoding: gzip"),
    "leading-crlf": b"\r\n" + request("/plain/ok"),
}


@pytest.mark.parametrize("name", sorted(REPEATED_REQUESTS))
def test_a_repeated_read_goes_upstream_as_the_parsed_one_did(
        gw: GatewayProcess, scripted: ScriptedUpstream, name: str) -> None:
    data = REPEATED_REQUESTS[name]
    head_request = name == "head"
    with Client(gw) as client:
        before = len(scripted.heads)
        client.send(data)  # parsed by llhttp
        first = client.response(head_request)
        client.send(data)  # byte for byte the last read: the parser is skipped
        second = client.response(head_request)
        client.send(data[:7])  # the same request in two reads: llhttp again
        time.sleep(SPLIT_PAUSE_S)
        client.send(data[7:])
        third = client.response(head_request)
    heads = scripted.heads[before:]
    assert len(heads) == 3
    assert [without_ids(h) for h in heads] == [without_ids(heads[0])] * 3
    assert [without_ids(r[0]) + r[1] for r in (second, third)] == [without_ids(first[0])
                                                                   + first[1]] * 2
    ids = [header_map(h)["x-request-id"] for h in heads]
    assert ids == [header_map(r[0])["x-request-id"] for r in (first, second, third)]
    if name == "request-id":
        assert ids == ["client-chosen-1"] * 3
    else:
        assert len(set(ids)) == 3
    parents = [header_map(h)["traceparent"].split("-") for h in heads]
    assert len({p[2] for p in parents}) == 3  # a new span per request
    if name == "traceparent":
        assert {p[1] for p in parents} == {"0af7651916cd43dd8448eb211c80319c"}
    deadlines = [int(header_map(h)["x-hld-deadline-ms"]) for h in heads]
    assert all(0 < d <= (800 if name == "deadline" else 30_000) for d in deadlines)


def test_a_retried_request_after_a_whole_5xx_answer_is_logged_with_both_attempts(
        gw: GatewayProcess) -> None:
    mark = os.urandom(6).hex()
    before = metric_value(gw.metrics(), "hld_gateway_retries_total", upstream="app")
    head, body = exchange(gw, request(f"/fail-then-ok?n=1&key={mark}"))
    after = metric_value(gw.metrics(), "hld_gateway_retries_total", upstream="app")

    def lines() -> list[dict[str, object]]:
        return [r for r in gw.log_records() if mark in str(r.get("path"))]

    wait_until(lambda: len(lines()) >= 1, timeout_s=5.0)
    assert (head[:12], body, after - before) == (b"HTTP/1.1 200", b'{"failing": false}', 1)
    assert [(r["status"], r["attempts"]) for r in lines()] == [(200, 2)]


# -- repeated requests the gateway answers itself ---------------------------------------


def test_a_repeated_request_without_a_route_is_404_each_time_on_one_connection(
        gw: GatewayProcess) -> None:
    data = request("/nowhere/at-all")
    with Client(gw) as client:
        statuses = []
        for _ in range(3):
            client.send(data)
            statuses.append(int(client.response()[0][9:12]))
        client.send(request("/plain/ok"))  # the connection still serves
        statuses.append(int(client.response()[0][9:12]))
    assert statuses == [404, 404, 404, 200]


def test_a_repeated_request_with_a_refused_method_is_405_each_time(gw: GatewayProcess,
                                                                    app: Upstream) -> None:
    before = app.hits()
    data = request("/get-only/x", method="POST")
    with Client(gw) as client:
        answers = []
        for _ in range(3):
            client.send(data)
            head, _ = client.response()
            answers.append((int(head[9:12]), header_map(head).get("allow")))
        client.send(request("/get-only/x"))
        answers.append((int(client.response()[0][9:12]), None))
    assert answers == [(405, "GET")] * 3 + [(200, None)]
    assert app.hits() == before + 1


# -- what else the fast paths must keep --------------------------------------------------


def test_repeated_requests_are_each_counted_and_logged_with_their_own_ids(
        gw: GatewayProcess) -> None:
    mark = os.urandom(6).hex()
    data = request(f"/plain/ok?mark={mark}")
    before = metric_value(gw.metrics(), "hld_gateway_requests_total", route="plain",
                          status="200")
    ids = []
    with Client(gw) as client:
        for _ in range(5):
            client.send(data)
            ids.append(header_map(client.response()[0])["x-request-id"])
    after = metric_value(gw.metrics(), "hld_gateway_requests_total", route="plain",
                         status="200")

    def lines() -> list[dict[str, object]]:
        return [r for r in gw.log_records() if mark in str(r.get("path"))]

    wait_until(lambda: len(lines()) >= 5, timeout_s=5.0)
    records = lines()
    assert after - before == 5
    assert [r["request_id"] for r in records] == ids
    assert {(r["method"], r["status"], r["route"], r["bytes"], r["client"], r["attempts"])
            for r in records} == {("GET", 200, "plain", 11, "127.0.0.1", 1)}
    assert all(isinstance(r["ts"], float) and isinstance(r["duration_ms"], float)
               for r in records)


def test_access_log_lines_stay_json_with_awkward_targets(gw: GatewayProcess) -> None:
    mark = os.urandom(6).hex()
    target = f'/plain/ok?mark={mark}&q="quoted"\\back%22<{{}}>'.encode()
    data = b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nX-Request-ID: a.b:c-d_e\r\n\r\n"
    with Client(gw) as client:
        for _ in range(2):
            client.send(data)
            client.response()

    def lines() -> list[dict[str, object]]:
        return [r for r in gw.log_records() if mark in str(r.get("path"))]

    wait_until(lambda: len(lines()) >= 2, timeout_s=5.0)
    assert [(r["path"], r["request_id"]) for r in lines()] == [
        (target.decode("latin-1"), "a.b:c-d_e")] * 2


def test_a_websocket_upgrade_after_repeated_requests_is_tunnelled(gw: GatewayProcess) -> None:
    key = base64.b64encode(os.urandom(16))
    with Client(gw) as client:
        for _ in range(3):
            client.send(request("/echo/before-ws"))
            assert client.response()[0].startswith(b"HTTP/1.1 200 ")
        client.send(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    b"Sec-WebSocket-Key: " + key + b"\r\n\r\n")
        head, _ = client.response(head_request=True)  # a 101 has no body
        assert head.startswith(b"HTTP/1.1 101 ")
        client.send(ws_frame(0x1, b"after repeats", masked=True))
        while len(client.buffer) < 2 + len(b"after repeats"):
            assert client._more()
    assert client.buffer == ws_frame(0x1, b"after repeats", masked=False)


def test_a_repeated_cacheable_request_is_served_from_the_cache(gw: GatewayProcess,
                                                               app: Upstream) -> None:
    path = f"/cached/cache?max_age=60&tag={os.urandom(4).hex()}"
    before = app.hits("/cache")
    with Client(gw) as client:
        answers = []
        for _ in range(3):
            client.send(request(path))
            head, body = client.response()
            answers.append((int(head[9:12]), header_map(head).get("x-cache"), body))
    assert [a[:2] for a in answers] == [(200, None), (200, "hit"), (200, "hit")]
    assert answers[1][2] == answers[2][2] == answers[0][2]
    assert app.hits("/cache") == before + 1


def test_a_repeated_gzip_request_is_compressed_each_time_and_plain_ones_are_not(
        gw: GatewayProcess) -> None:
    zipped = request("/gz/big", "Accept-Encoding: gzip")
    plain = request("/gz/big")
    bodies = []
    with Client(gw) as client:
        for data in (zipped, zipped, plain, plain, zipped):
            client.send(data)
            head, body = client.response()
            encoded = header_map(head).get("content-encoding") == "gzip"
            bodies.append((encoded, gzip.decompress(body) if encoded else body))
    assert bodies == [(True, BIG_TEXT)] * 2 + [(False, BIG_TEXT)] * 2 + [(True, BIG_TEXT)]


def test_a_client_gone_before_its_repeated_request_is_answered_is_logged_as_499(
        gw: GatewayProcess) -> None:
    mark = os.urandom(6).hex()
    data = request(f"/slow?ms=300&mark={mark}")
    with Client(gw) as client:
        client.send(request(f"/slow?ms=1&mark={mark}"))
        client.response()
        client.send(data)
        client.response()
        client.send(data)  # the repeat, then gone
    time.sleep(0.5)

    def lines() -> list[dict[str, object]]:
        return [r for r in gw.log_records() if mark in str(r.get("path"))]

    wait_until(lambda: len(lines()) >= 3, timeout_s=5.0)
    assert [r["status"] for r in lines()] == [200, 200, 499]
    assert exchange(gw, request("/slow?ms=1"))[0].startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("split", ["", "?split=1"])
def test_a_request_pipelined_behind_an_answer_after_which_the_upstream_closes_is_served(
        gw: GatewayProcess, split: str) -> None:
    # The POST may not be retried: it must not be sent down the connection the
    # upstream is closing.
    with Client(gw) as client:
        client.send(request(f"/plain/then-close{split}") + request("/plain/ok", method="POST"))
        first, second = client.response(), client.response()
    assert (first[0][:12], first[1], second[0][:12], second[1]) == (
        b"HTTP/1.1 200", b"last", b"HTTP/1.1 200", b'{"ok":true}')


# -- HTTP/1.1 rules both paths share -----------------------------------------------------


@pytest.mark.parametrize("split", ["", "?split=1"])
def test_response_headers_the_upstream_nominates_in_connection_are_not_relayed(
        gw: GatewayProcess, split: str) -> None:
    head, body = exchange(gw, request(f"/plain/nominated{split}"))
    assert (body, "x-hop-secret" in header_map(head)) == (b"ok", False)


def test_gzip_refused_with_q_0_is_not_applied(gw: GatewayProcess) -> None:
    head, body = exchange(gw, request("/gz/big", "Accept-Encoding: gzip;q=0, identity"))
    assert (header_map(head).get("content-encoding"), body) == (None, BIG_TEXT)


@pytest.mark.parametrize("split", ["", "?split=1"])
def test_an_http10_keep_alive_client_is_told_the_connection_stays_open(
        gw: GatewayProcess, split: str) -> None:
    data = request(f"/plain/ok{split}", "Connection: keep-alive", version="1.0")
    with Client(gw) as client:
        client.send(data)
        head, _ = client.response()
        client.send(data)
        assert client.response()[0][:12] == b"HTTP/1.1 200"
    assert header_map(head).get("connection", "").lower() == "keep-alive"


@pytest.mark.parametrize("split", ["", "?split=1"])
def test_a_declined_upgrade_is_answered_with_connection_close_when_the_gateway_closes(
        gw: GatewayProcess, split: str) -> None:
    with Client(gw) as client:
        client.send(request(f"/plain/ok{split}", "Upgrade: websocket", "Connection: Upgrade",
                            "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: a2V5a2V5a2V5a2V5"))
        head, _ = client.response()
        closed = client.closed()
    assert (head[:12], closed, header_map(head).get("connection")) == (
        b"HTTP/1.1 200", True, "close")



# -- what an idle connection keeps ------------------------------------------------------


def rss_bytes(gw: GatewayProcess) -> int:
    assert gw.proc is not None
    with open(f"/proc/{gw.proc.pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def test_an_idle_connection_keeps_less_than_three_copies_of_its_last_request_head(
        gw: GatewayProcess) -> None:
    pad_bytes, connections = 24_000, 200
    data = request("/plain/ok", "X-Pad: " + "p" * pad_bytes)
    clients = []
    try:
        for _ in range(5):  # warm up: the gateway's own per-head tables
            with Client(gw) as client:
                client.send(data)
                client.response()
        time.sleep(0.2)
        before = rss_bytes(gw)
        for _ in range(connections):
            client = Client(gw)
            clients.append(client)
            client.send(data)
            client.response()
        time.sleep(0.3)
        per_connection = (rss_bytes(gw) - before) / connections
    finally:
        for client in clients:
            client.sock.close()
    assert per_connection < 3 * pad_bytes
