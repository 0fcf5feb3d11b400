"""In-process checks of the gateway's pure pieces: request-head checks and the cache of
verified tokens (time passed in)."""

from __future__ import annotations

import pytest

from hld.gateway.http import RequestHead, check_head
from hld.gateway.policy import VERIFIED_TOKEN_TTL_S, Identity, VerifiedTokens


def head(target: bytes, *headers: tuple[bytes, bytes], method: bytes = b"GET") -> RequestHead:
    all_headers = [(b"host", b"x"), *headers]
    return RequestHead(method, target, "1.1", all_headers, 100)


@pytest.mark.parametrize("target", [b"/a/b?x=%2e%2e", b"/a.b/c.d", b"/%7euser", b"/a/.well"])
def test_ordinary_paths_pass_and_are_decoded(target: bytes) -> None:
    request = head(target)
    assert check_head(request) is None
    assert not request.path.startswith(b"/a/b?")


@pytest.mark.parametrize("target", [b"/a/%2e%2e/b", b"/a/../b", b"/a/./b", b"/a//b",
                                    b"/a%2fb", b"/a\\b", b"/a%00", b"/a/.."])
def test_path_tricks_are_400(target: bytes) -> None:
    refusal = check_head(head(target))
    assert refusal is not None
    assert refusal.status == 400


def test_decoded_path_is_used_for_routing() -> None:
    request = head(b"/caf%C3%A9/menu?x=1")
    assert check_head(request) is None
    assert (request.path, request.query) == ("/café/menu".encode(), b"x=1")


def identity() -> Identity:
    return Identity("alice", frozenset({"reader"}), "jwt")


def test_verified_token_is_remembered_until_it_expires() -> None:
    cache = VerifiedTokens(leeway_s=5.0)
    cache.put("t", identity(), {"exp": 1000.0}, wall=980.0)
    assert cache.get("t", 990.0) is not None
    assert cache.get("t", 1004.9) is not None   # within the leeway
    assert cache.get("t", 1005.0) is None       # expired: forgotten, verified again


def test_verified_token_is_not_used_before_nbf() -> None:
    cache = VerifiedTokens(leeway_s=0.0)
    cache.put("t", identity(), {"exp": 5000.0, "nbf": 1000.0}, wall=500.0)
    assert cache.get("t", 999.0) is None


def test_remembered_verification_is_redone_after_the_ttl() -> None:
    cache = VerifiedTokens(leeway_s=0.0)
    cache.put("t", identity(), {"exp": 1e9}, wall=0.0)
    assert cache.get("t", VERIFIED_TOKEN_TTL_S - 0.1) is not None
    assert cache.get("t", VERIFIED_TOKEN_TTL_S) is None


def test_only_a_byte_identical_token_hits() -> None:
    cache = VerifiedTokens(leeway_s=0.0)
    cache.put("a.b.c", identity(), {"exp": 1e9}, wall=0.0)
    assert cache.get("a.b.d", 1.0) is None


def test_oversized_tokens_are_not_remembered() -> None:
    cache = VerifiedTokens(leeway_s=0.0)
    cache.put("x" * 5000, identity(), {"exp": 1e9}, wall=0.0)
    assert cache.entries == {}


def test_whole_response_takes_one_complete_content_length_response() -> None:
    from hld.gateway.upstream import whole_response

    head = (b"HTTP/1.1 200 OK\r\nServer: up\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 5\r\nConnection: keep-alive\r\n\r\n")
    whole = whole_response(head + b"hello")
    assert whole is not None
    known, body = whole
    assert (known.status, known.headers, known.length, body) == (
        200, [(b"server", b"up"), (b"content-type", b"text/plain"),
              (b"content-length", b"5"), (b"connection", b"keep-alive")], 5, b"hello")
    assert whole_response(head + b"hel") is None  # the rest is in a later read
    assert whole_response(head + b"hello" + head) is None  # more than one response


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n",
    b"HTTP/1.1 200 OK\r\n",  # delimited by the close
    b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n",
    b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    b"HTTP/1.1 200 OK\r\nBad Header\r\nContent-Length: 5\r\n",
])
def test_whole_response_leaves_everything_else_to_the_parser(head: bytes) -> None:
    from hld.gateway.upstream import whole_response

    assert whole_response(head + b"\r\nhello") is None


def test_pooled_connections_idle_too_long_are_closed_not_reused() -> None:
    from hld.gateway.upstream import ServerConnections, UpstreamConnection

    now = [100.0]
    server = ServerConnections("127.0.0.1", 1, idle_timeout_s=4.0, clock=lambda: now[0])
    old, recent = UpstreamConnection(server), UpstreamConnection(server)
    server.release(old)
    now[0] += 3.0
    server.release(recent)
    now[0] += 2.0  # old has been idle 5 s, recent 2 s
    assert server.acquire() is recent
    server.release(recent)
    assert (old.closed, recent.closed) == (False, False)
    now[0] += 4.5
    assert server.acquire() is None  # both too old now: closed, not handed out
    assert (old.closed, recent.closed, server.idle) == (True, True, [])


class _Transport:
    """The part of a transport the upstream pool touches: reading paused or not."""

    def __init__(self) -> None:
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


def test_a_connection_paused_for_a_slow_client_reads_again_when_pooled() -> None:
    # A client's buffer can fill while the last bytes of a response are relayed: the
    # upstream connection, paused then, must not go back to the pool deaf.
    from hld.gateway.upstream import ServerConnections, UpstreamConnection

    server = ServerConnections("127.0.0.1", 1, clock=lambda: 0.0)
    conn = UpstreamConnection(server)
    transport = _Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.pause()
    assert (conn.paused, transport.reading) == (True, False)
    server.release(conn)
    assert (conn.paused, transport.reading) == (False, True)
    assert server.acquire() is conn


def test_access_lines_are_json_with_every_outside_string_escaped() -> None:
    import io
    import json

    from hld.gateway.config import simple
    from hld.gateway.server import Gateway

    stream = io.StringIO()
    gateway = Gateway(simple("127.0.0.1:0", ["http://127.0.0.1:9"]), log=stream, worker=3)
    path = '/a"b\\c/\u00e9\x01?q=\u2603'.encode()
    details = ("::1", b"GET", path, 'r"oute', 200, 17, 1, "sub\n\"ject", "why \\ not")
    trace = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    gateway.log_buffer.append((1764300000.000042, "0123456789abcdef", trace, 0.0012345,
                               details))
    gateway.log_buffer.append((5.5, "id", "tp", 2.0,
                               ("127.0.0.1", b"POST", b"/", None, 502, 0, 3, None, "")))
    gateway.log_buffer.append((6.0, "id2", "tp2", 0.5, details))  # a remembered fragment
    gateway.flush_log()
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert third == {**first, "ts": 6.0, "request_id": "id2", "traceparent": "tp2",
                     "duration_ms": 500.0}
    assert first == {
        "ts": 1764300000.000042, "level": "info", "event": "request",
        "component": "gateway", "worker": 3, "request_id": "0123456789abcdef",
        "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01", "client": "::1",
        "method": "GET", "path": path.decode("latin-1"), "route": 'r"oute', "status": 200,
        "bytes": 17, "duration_ms": 1.234, "attempts": 1, "subject": "sub\n\"ject",
        "reason": "why \\ not"}
    assert (second["ts"], second["route"], second["duration_ms"], second["attempts"]) == (
        5.5, None, 2000.0, 3)
    assert not {"subject", "reason"} & second.keys()


@pytest.mark.parametrize(("value", "expected"), [
    (None, False), (b"", False), (b"gzip", True), (b"GZIP ; q=0.5", True),
    (b"deflate, gzip;q=1.0", True), (b"gzip;q=0", False), (b"gzip;q=0.000, *", False),
    (b"identity", False), (b"*", True), (b"*;q=0", False), (b"br, *;q=0.1", True),
    (b"x-gzip", True), (b"gzip;q=oops", False), (b"gzipped", False),
])
def test_accept_encoding_admits_gzip_by_its_q_value(value: bytes | None, expected: bool) -> None:
    from hld.gateway.http import accepts_gzip

    assert accepts_gzip(value) is expected


def test_whole_response_does_not_remember_large_heads() -> None:
    from hld.gateway import limits, upstream

    pad = b"x" * limits.KNOWN_HEAD_BYTES_MAX
    head = b"HTTP/1.1 200 OK\r\nX-Pad: " + pad + b"\r\nContent-Length: 2\r\n\r\n"
    before = dict(upstream._WHOLE_HEADS)  # the table of known heads
    assert upstream.whole_response(head + b"ok") is None  # the parser's path answers it
    assert before == upstream._WHOLE_HEADS
