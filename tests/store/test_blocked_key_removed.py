"""Clients parked on a key that goes away: XREADGROUP BLOCK is woken with Redis 7.0's
UNBLOCKED error when its stream is deleted, renamed away, expired, flushed or
overwritten, and with NOGROUP when its group is gone; XREAD BLOCK and BLPOP keep waiting.
Every case runs against hld-store and a real redis-server over raw sockets (exact reply
bytes, no client-side retries)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.store.conftest import Target
from tests.store.test_save_points import _server

pytestmark = pytest.mark.blackbox

UNBLOCKED = b"-UNBLOCKED the stream key no longer exists\r\n"
NOGROUP = b"-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
NULL_ARRAY = b"*-1\r\n"
WAIT_S = 5.0


def _encode(*args: str) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def _read_reply(sock: socket.socket, timeout_s: float = WAIT_S) -> bytes:
    """One whole reply line (the replies these tests expect are single lines)."""
    sock.settimeout(timeout_s)
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@contextlib.contextmanager
def _parked(port: int, r: redis.Redis, *argv: str) -> Iterator[tuple[socket.socket, int]]:
    """A raw connection that sent ``argv`` and is now blocked (CLIENT LIST flag b)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
    try:
        sock.sendall(_encode("CLIENT", "ID"))
        client_id = int(_read_reply(sock)[1:])
        sock.sendall(_encode(*argv))
        deadline = time.monotonic() + WAIT_S
        while not any(c["id"] == str(client_id) and "b" in c["flags"]
                      for c in r.client_list()):
            assert time.monotonic() < deadline, "the client never blocked"
            time.sleep(0.01)
        yield sock, client_id
    finally:
        sock.close()


def _still_blocked(sock: socket.socket, client_id: int, r: redis.Redis) -> bytes:
    """Check the client stays parked a while, then unblock it; returns what it got."""
    time.sleep(0.2)
    sock.settimeout(0.05)
    with contextlib.suppress(TimeoutError):
        early = sock.recv(4096)
        return b"woken early: " + early
    assert r.client_unblock(client_id) is True
    return _read_reply(sock)


def _group(r: redis.Redis, key: str) -> None:
    r.xgroup_create(key, "g", id="$", mkstream=True)


def _readgroup(key: str) -> tuple[str, ...]:
    return ("XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", key, ">")


GONE: dict[str, Callable[[redis.Redis, str], object]] = {
    "del": lambda r, key: r.delete(key),
    "unlink": lambda r, key: r.unlink(key),
    "rename_away": lambda r, key: r.rename(key, key + ":moved"),
    "set_over": lambda r, key: r.set(key, "a string now"),
    "del_then_lpush": lambda r, key: (r.delete(key), r.lpush(key, "x")),
    "del_then_xadd": lambda r, key: (r.delete(key), r.xadd(key, {"f": "v"})),
    # One read, two commands: the parked reader is served between them, as Redis does.
    "pipelined_del_xadd": lambda r, key: r.pipeline(transaction=False).delete(key)
    .xadd(key, {"f": "v"}).execute(),
    "expire": lambda r, key: r.pexpire(key, 1),
}


@pytest.mark.parametrize("how", sorted(GONE))
def test_xreadgroup_parked_on_a_stream_that_goes_away_gets_unblocked(
        target: Target, r: redis.Redis, k: str, how: str) -> None:
    key = k + "s"
    _group(r, key)
    with _parked(target.port, r, *_readgroup(key)) as (sock, _):
        GONE[how](r, key)
        assert _read_reply(sock) == UNBLOCKED
    r.delete(key + ":moved")


GROUP_GONE: dict[str, Callable[[redis.Redis, str], object]] = {
    "destroy": lambda r, key: r.xgroup_destroy(key, "g"),
    "rename_onto": lambda r, key: (r.xadd(key + ":other", {"f": "v"}),
                                   r.rename(key + ":other", key)),
    "multi_del_xadd": lambda r, key: r.pipeline(transaction=True).delete(key)
    .xadd(key, {"f": "v"}).execute(),
}


@pytest.mark.parametrize("how", sorted(GROUP_GONE))
def test_xreadgroup_parked_on_a_group_that_goes_away_gets_nogroup(
        target: Target, r: redis.Redis, k: str, how: str) -> None:
    key = k + "s"
    _group(r, key)
    with _parked(target.port, r, *_readgroup(key)) as (sock, _):
        GROUP_GONE[how](r, key)
        assert _read_reply(sock) == NOGROUP


@pytest.mark.parametrize("how", ["del", "unlink", "rename_away", "set_over", "expire"])
def test_xread_parked_on_a_stream_that_goes_away_keeps_waiting(
        target: Target, r: redis.Redis, k: str, how: str) -> None:
    key = k + "s"
    r.xadd(key, {"f": "v"})
    with _parked(target.port, r, "XREAD", "BLOCK", "0", "STREAMS", key, "$") as (sock, cid):
        GONE[how](r, key)
        assert _still_blocked(sock, cid, r) == NULL_ARRAY
    r.delete(key + ":moved")


def test_xread_parked_on_a_deleted_stream_gets_the_entries_of_a_new_one(
        target: Target, r: redis.Redis, k: str) -> None:
    key = k + "s"
    r.xadd(key, {"f": "v"}, id="5-0")
    with _parked(target.port, r, "XREAD", "BLOCK", "0", "STREAMS", key, "$") as (sock, _):
        r.delete(key)
        r.xadd(key, {"f": "old"}, id="3-0")  # not after the ID '$' stood for: still waits
        r.xadd(key, {"f": "new"}, id="6-0")
        reply = b""
        sock.settimeout(WAIT_S)
        while not reply.endswith(b"$3\r\nnew\r\n"):
            chunk = sock.recv(4096)
            assert chunk, f"connection closed after {reply!r}"
            reply += chunk
        assert reply.startswith(b"*1\r\n")
        assert b"6-0" in reply
        assert b"3-0" not in reply


def test_blpop_parked_on_a_key_overwritten_by_a_string_keeps_waiting(
        target: Target, r: redis.Redis, k: str) -> None:
    key = k + "l"
    with _parked(target.port, r, "BLPOP", key, "0") as (sock, cid):
        r.set(key, "a string")
        assert _still_blocked(sock, cid, r) == NULL_ARRAY
    r.delete(key)
    with _parked(target.port, r, "BLPOP", key, "0") as (sock, _):
        r.set(key, "a string")
        r.delete(key)
        r.rpush(key, "x")
        assert _read_reply(sock).endswith(b"$1\r\nx\r\n")


@pytest.mark.parametrize("kind", ["hld", "redis"])
def test_flushall_unblocks_xreadgroup_but_not_xread(kind: str, tmp_path: Path) -> None:
    # A private server per kind: the session's shared servers must never be flushed.
    with _server(kind, tmp_path, "") as r:
        port = int(r.connection_pool.connection_kwargs["port"])
        r.xgroup_create("s", "g", id="$", mkstream=True)
        r.xadd("t", {"f": "v"})
        with _parked(port, r, *_readgroup("s")) as (group_sock, _), \
                _parked(port, r, "XREAD", "BLOCK", "0", "STREAMS", "t", "$") as (sock, cid):
            r.flushall()
            assert _read_reply(group_sock) == UNBLOCKED
            assert _still_blocked(sock, cid, r) == NULL_ARRAY
