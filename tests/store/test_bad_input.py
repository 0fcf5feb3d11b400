"""Bad input over real sockets: Redis-style errors, the connection at fault is closed,
every other client keeps being served, and memory stays bounded.

Protocol-level replies are compared with a real redis-server where the wording matches.
"""

from __future__ import annotations

import contextlib
import random
import socket
import time

import pytest
import redis

from tests.store.conftest import Target

pytestmark = pytest.mark.blackbox


def _exchange(port: int, payload: bytes, expected_bytes: int, timeout_s: float = 10.0) -> bytes:
    """Send ``payload``; read until ``expected_bytes`` arrived, the server closes, or timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(payload)
        return _receive(sock, expected_bytes)


def _closed_after(port: int, payload: bytes) -> tuple[bytes, bool]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload)
        data = b""
        closed = False
        sock.settimeout(10)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
                data += chunk
        except TimeoutError:
            pass
        return data, closed


@pytest.mark.parametrize(("payload", "reply"), [
    (b"*4294967296\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
    (b"*1\r\n$2000000000\r\n", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n$-5\r\nab", b"-ERR Protocol error: invalid bulk length\r\n"),
    (b"*1\r\n:12\r\n", b"-ERR Protocol error: expected '$', got ':'\r\n"),
    (b"*abc\r\n", b"-ERR Protocol error: invalid multibulk length\r\n"),
])
def test_protocol_errors_reply_and_close_only_that_connection(
        target: Target, payload: bytes, reply: bytes) -> None:
    data, closed = _closed_after(target.port, payload)
    assert (data, closed) == (reply, True)
    assert redis.Redis(port=target.port).ping() is True


PING = b"*1\r\n$4\r\nPING\r\n"


@pytest.mark.parametrize("payload", [
    # An integer where a bulk string belongs, with "\n$" in a payload to hide it.
    b"*3\r\n$3\r\nSET\r\n$5\r\nA\n$BC\r\n:5\r\n",
    b"*3\r\n$3\r\nSET\r\n$5\r\nA\n$BC\r\n*1\r\n$1\r\nx\r\n",
])
@pytest.mark.parametrize("after_a_request", [False, True])
def test_non_bulk_arguments_are_protocol_errors(
        target: Target, payload: bytes, after_a_request: bool) -> None:
    """Whether the request opens the connection or follows one, alone or pipelined."""
    first = PING if after_a_request else b""
    data, closed = _closed_after(target.port, first + payload)
    reply = b"-ERR Protocol error: expected '$', got '%b'\r\n" % payload[24:25]
    assert (data, closed) == ((b"+PONG\r\n" if after_a_request else b"") + reply, True)
    assert redis.Redis(port=target.port).exists("A\n$BC") == 0


@pytest.mark.parametrize("empty", [b"*0\r\n", b"*-1\r\n"])
def test_empty_and_null_multibulk_requests_are_skipped(target: Target, empty: bytes) -> None:
    expected = b"+PONG\r\n+PONG\r\n"
    with socket.create_connection(("127.0.0.1", target.port), timeout=10) as sock:
        sock.sendall(PING)
        assert sock.recv(100) == b"+PONG\r\n"
        sock.sendall(empty)  # alone in its read, then pipelined between two requests
        sock.sendall(PING)
        data = b""
        while len(data) < len(b"+PONG\r\n"):
            data += sock.recv(100)
        sock.sendall(PING + empty + PING)
        while len(data) < len(expected) + len(b"+PONG\r\n"):
            data += sock.recv(100)
    assert data == expected + b"+PONG\r\n"


def test_huge_multibulk_count_is_refused_before_buffering(hld_store_port: int) -> None:
    """hld-store caps arguments at limits.ARGS_MAX (Redis only at INT_MAX)."""
    for payload in (b"*2000000000\r\n", b"*2\r\n*2000000000\r\n"):
        data, closed = _closed_after(hld_store_port, payload)
        assert (data, closed) == (b"-ERR Protocol error: invalid multibulk length\r\n", True)


def test_inline_commands_work_as_in_redis(target: Target) -> None:
    expected = b"+PONG\r\n$4\r\na bA\r\n:0\r\n"
    reply = _exchange(target.port, b"PING\r\nECHO \"a b\\x41\"\r\n\r\nEXISTS 'x y'\r\n",
                      len(expected))
    assert reply == expected


def test_inline_with_unbalanced_quotes_is_a_protocol_error(target: Target) -> None:
    data, closed = _closed_after(target.port, b'ECHO "abc\r\n')
    assert (data, closed) == (b"-ERR Protocol error: unbalanced quotes in request\r\n", True)


def test_mixed_inline_and_multibulk_in_one_write(target: Target) -> None:
    expected = b"+PONG\r\n$2\r\nhi\r\n+PONG\r\n"
    reply = _exchange(target.port, b"PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nPING\r\n",
                      len(expected))
    assert reply == expected


def test_request_split_byte_by_byte(target: Target) -> None:
    payload = (b"*3\r\n$3\r\nSET\r\n$10\r\nt:bytewise\r\n$3\r\nv\x00v\r\n"
               b"*2\r\n$3\r\nDEL\r\n$10\r\nt:bytewise\r\n")
    with socket.create_connection(("127.0.0.1", target.port), timeout=5) as sock:
        for i in range(len(payload)):
            sock.sendall(payload[i:i + 1])
        data = b""
        while len(data) < len(b"+OK\r\n:1\r\n"):
            chunk = sock.recv(100)
            if not chunk:
                break
            data += chunk
        assert data == b"+OK\r\n:1\r\n"


def test_random_bytes_never_crash_the_server(target: Target) -> None:
    """120 connections of seeded garbage; the server still answers afterwards."""
    rng = random.Random(20261127)
    healthy = redis.Redis(port=target.port, socket_timeout=5)
    alphabet = b"*$:+-\r\n0123456789abcPING "
    for _ in range(120):
        size = rng.randrange(1, 200)
        if rng.random() < 0.5:
            garbage = bytes(rng.randrange(256) for _ in range(size))
        else:
            garbage = bytes(rng.choice(alphabet) for _ in range(size))
        try:
            with socket.create_connection(("127.0.0.1", target.port), timeout=2) as sock:
                sock.sendall(garbage)
                sock.settimeout(0.02)
                with contextlib.suppress(TimeoutError, ConnectionResetError):
                    sock.recv(65536)
        except OSError:
            pass
    assert healthy.ping() is True
    assert healthy.set("t:after-garbage", "ok") is True
    assert healthy.delete("t:after-garbage") == 1


def test_a_bad_client_does_not_disturb_a_pipelining_client(target: Target) -> None:
    good = redis.Redis(port=target.port, socket_timeout=5)
    pipe = good.pipeline(transaction=False)
    for i in range(100):
        pipe.echo(str(i))
    _closed_after(target.port, b"*1\r\n$2000000000\r\n")
    assert pipe.execute() == [str(i).encode() for i in range(100)]


def _send_in_reads(port: int, chunks: list[bytes], expected: bytes) -> bytes:
    """Send each chunk in its own TCP segment, a pause apart, so each is its own read."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for chunk in chunks:
            sock.sendall(chunk)
            time.sleep(0.05)
        return _receive(sock, len(expected))


def _receive(sock: socket.socket, size: int) -> bytes:
    """Read until ``size`` bytes arrived, the server closed, or the socket timed out."""
    data = b""
    with contextlib.suppress(TimeoutError):
        while len(data) < size:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def test_a_read_starting_with_digits_inside_a_value_is_not_a_header(target: Target) -> None:
    """A value split so that a read starts with eight digits is still just a value."""
    chunks = [PING + b"*3\r\n$3\r\nSET\r\n$8\r\nt:digits\r\n$10\r\nx",
              b"123456789\r\n", b"*2\r\n$3\r\nGET\r\n$8\r\nt:digits\r\n"]
    expected = b"+PONG\r\n+OK\r\n$10\r\nx123456789\r\n"
    assert _send_in_reads(target.port, chunks, expected) == expected


def test_a_huge_header_split_across_three_reads_is_refused(hld_store_port: int) -> None:
    data = _send_in_reads(hld_store_port, [PING + b"*1\r\n*12", b"345", b"6789\r\n"],
                          b"+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n")
    assert data == b"+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"


def test_requests_behind_a_blocked_one_keep_their_order(target: Target) -> None:
    """BLPOP blocks; the requests pipelined behind it (the last one cut in two) run after
    it is served, in order, with what arrives meanwhile behind them."""
    key = b"t:order"
    redis.Redis(port=target.port).delete(key)
    blpop = b"*3\r\n$5\r\nBLPOP\r\n$7\r\nt:order\r\n$1\r\n5\r\n"
    echo = b"*2\r\n$4\r\nECHO\r\n$%d\r\n%b\r\n"
    with socket.create_connection(("127.0.0.1", target.port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        second = echo % (6, b"second")
        sock.sendall(blpop + echo % (5, b"first") + second[:9])
        time.sleep(0.1)
        sock.sendall(second[9:] + echo % (5, b"third"))
        time.sleep(0.1)
        redis.Redis(port=target.port).rpush(key, b"job")
        sock.sendall(echo % (6, b"fourth"))
        expected = (b"*2\r\n$7\r\nt:order\r\n$3\r\njob\r\n$5\r\nfirst\r\n$6\r\nsecond\r\n"
                    b"$5\r\nthird\r\n$6\r\nfourth\r\n")
        assert _receive(sock, len(expected)) == expected


def test_an_inline_command_after_multibulk_ones_is_accepted(target: Target) -> None:
    """A connection that started with multibulk requests may go on typing inline ones."""
    chunks = [PING, b"ECHO hello\r\n", b"*2\r\n$4\r\nECHO\r\n$5\r\nagain\r\n"]
    expected = b"+PONG\r\n$5\r\nhello\r\n$5\r\nagain\r\n"
    assert _send_in_reads(target.port, chunks, expected) == expected


def test_a_read_ending_inside_a_request_header_block_is_continued(target: Target) -> None:
    """A read may end after the whole lines of a request's first arguments: the next read
    continues that request (it does not start a new one, inline or otherwise)."""
    chunks = [PING + b"*3\r\n$3\r\nSET\r\n", b"$8\r\nt:halves\r\n$1\r\nv\r\n",
              b"*2\r\n$3\r\nGET\r\n", b"$8\r\nt:halves\r\n"]
    expected = b"+PONG\r\n+OK\r\n$1\r\nv\r\n"
    assert _send_in_reads(target.port, chunks, expected) == expected
