"""LMOVE, RPOPLPUSH, BLMOVE and BRPOPLPUSH when the destination is not a list, as
redis-server 7.0 answers: the destination's type is checked only when an element is
there to move, a WRONGTYPE destination leaves the element in the source, a parked client
woken onto such a destination gets WRONGTYPE, and one whose source became another type
waits on. Every case runs against hld-store and a real redis-server over raw sockets
(exact reply bytes)."""

from __future__ import annotations

import socket
import time

import pytest
import redis

from tests.store.conftest import Target
from tests.store.test_blocked_key_removed import _encode, _parked, _read_reply

pytestmark = pytest.mark.blackbox

WRONGTYPE = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
NULL_BULK = b"$-1\r\n"
NULL_ARRAY = b"*-1\r\n"


def _ask(port: int, *argv: str) -> bytes:
    """One command on a fresh connection; its single-line reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_encode(*argv))
        return _read_reply(sock)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    got = b""
    while len(got) < size:
        chunk = sock.recv(size - len(got))
        if not chunk:
            break
        got += chunk
    return got


def _nothing_arrives(sock: socket.socket) -> bool:
    time.sleep(0.2)
    sock.settimeout(0.05)
    try:
        return sock.recv(4096) == b"never"
    except TimeoutError:
        return True
    finally:
        sock.settimeout(5)


def _moves(src: str, dst: str, timeout: str) -> dict[str, tuple[str, ...]]:
    return {"lmove": ("LMOVE", src, dst, "LEFT", "RIGHT"),
            "rpoplpush": ("RPOPLPUSH", src, dst),
            "blmove": ("BLMOVE", src, dst, "LEFT", "RIGHT", timeout),
            "brpoplpush": ("BRPOPLPUSH", src, dst, timeout)}


@pytest.mark.parametrize("name", ["lmove", "rpoplpush"])
def test_move_from_a_missing_source_is_nil_whatever_the_destination_holds(
        target: Target, r: redis.Redis, k: str, name: str) -> None:
    r.set(k + "dst", "a string")
    assert _ask(target.port, *_moves(k + "src", k + "dst", "0")[name]) == NULL_BULK


@pytest.mark.parametrize("name", ["blmove", "brpoplpush"])
def test_blocking_move_from_a_missing_source_waits_whatever_the_destination_holds(
        target: Target, r: redis.Redis, k: str, name: str) -> None:
    r.set(k + "dst", "a string")
    # a timed-out BLMOVE answers the null array in RESP2, as a timed-out BLPOP does
    assert _ask(target.port, *_moves(k + "src", k + "dst", "0.1")[name]) == NULL_ARRAY
    assert r.get(k + "dst") == b"a string"


@pytest.mark.parametrize("name", ["lmove", "rpoplpush", "blmove", "brpoplpush"])
def test_move_onto_a_non_list_is_wrongtype_and_the_element_stays(
        target: Target, r: redis.Redis, k: str, name: str) -> None:
    r.rpush(k + "src", "a", "b")
    r.set(k + "dst", "a string")
    assert _ask(target.port, *_moves(k + "src", k + "dst", "1")[name]) == WRONGTYPE
    assert r.lrange(k + "src", 0, -1) == [b"a", b"b"]
    assert r.get(k + "dst") == b"a string"


@pytest.mark.parametrize("name", ["blmove", "brpoplpush"])
def test_parked_move_woken_onto_a_non_list_gets_wrongtype_and_the_element_stays(
        target: Target, r: redis.Redis, k: str, name: str) -> None:
    with _parked(target.port, r, *_moves(k + "src", k + "dst", "0")[name]) as (sock, _):
        r.set(k + "dst", "a string")
        r.rpush(k + "src", "x")
        assert _read_reply(sock) == WRONGTYPE
    assert r.lrange(k + "src", 0, -1) == [b"x"]
    assert r.get(k + "dst") == b"a string"


def test_parked_move_waits_on_when_its_source_becomes_another_type(
        target: Target, r: redis.Redis, k: str) -> None:
    argv = _moves(k + "src", k + "dst", "0")["blmove"]
    with _parked(target.port, r, *argv) as (sock, client_id):
        r.set(k + "src", "a string")
        assert _nothing_arrives(sock)
        r.delete(k + "src")
        r.rpush(k + "src", "y")
        assert _read_exactly(sock, 7) == b"$1\r\ny\r\n"
        assert not any(c["id"] == str(client_id) and "b" in c["flags"]
                       for c in r.client_list())
    assert r.lrange(k + "dst", 0, -1) == [b"y"]


def test_parked_move_with_a_bad_destination_does_not_take_the_element_from_the_next(
        target: Target, r: redis.Redis, k: str) -> None:
    r.set(k + "bad", "a string")
    with _parked(target.port, r, *_moves(k + "src", k + "bad", "0")["blmove"]) \
            as (first, _), \
            _parked(target.port, r, *_moves(k + "src", k + "good", "0")["blmove"]) \
            as (second, _):
        r.rpush(k + "src", "z")
        assert _read_reply(first) == WRONGTYPE
        assert _read_exactly(second, 7) == b"$1\r\nz\r\n"
    assert r.lrange(k + "good", 0, -1) == [b"z"]
    assert r.exists(k + "src") == 0


def test_blocking_moves_inside_multi_answer_at_once(target: Target, r: redis.Redis,
                                                   k: str) -> None:
    r.set(k + "bad", "a string")
    with socket.create_connection(("127.0.0.1", target.port), timeout=5) as sock:
        sock.sendall(b"".join(_encode(*argv) for argv in (
            ("MULTI",), _moves(k + "src", k + "dst", "0")["blmove"],
            _moves(k + "src", k + "bad", "0")["brpoplpush"], ("EXEC",))))
        expected = b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n$-1\r\n$-1\r\n"
        assert expected == _read_exactly(sock, len(expected))


def test_a_timed_out_blocking_move_in_resp3_is_null(target: Target, k: str) -> None:
    with socket.create_connection(("127.0.0.1", target.port), timeout=5) as sock:
        sock.sendall(_encode("HELLO", "3"))
        sock.settimeout(5)
        hello = sock.recv(4096)
        assert hello.startswith(b"%")
        sock.sendall(_encode(*_moves(k + "src", k + "dst", "0.1")["blmove"]))
        assert _read_reply(sock) == b"_\r\n"
