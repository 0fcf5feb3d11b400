"""CLIENT LIST and CLIENT INFO lines as redis-server 7.0 prints them: the same fields in
the same order, and ``cmd=`` naming the last command each connection ran (its full
name, ``client|list`` for a subcommand; NULL before any command and after an unknown
one). Runs against hld-store and a real redis-server over raw sockets, so no client
library hand-shake runs commands of its own."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest

from tests.store.conftest import Target
from tests.store.test_blocked_key_removed import _encode

pytestmark = pytest.mark.blackbox

REDIS_7_0_FIELDS = [
    "id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub",
    "ssub", "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl",
    "oll", "omem", "tot-mem", "events", "cmd", "user", "redir", "resp",
]
TIMEOUT_S = 5.0


class Raw:
    """One raw RESP2 connection: send a command, read one whole reply."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.buffer = b""

    def call(self, *argv: str) -> bytes:
        self.sock.sendall(_encode(*argv))
        return self.reply()

    def send(self, *argv: str) -> None:
        self.sock.sendall(_encode(*argv))

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def reply(self) -> bytes:
        """A simple reply's line, a bulk string's payload, or an array's header line
        (its elements are read and dropped)."""
        line = self._line()
        if line.startswith(b"*") and line != b"*-1":
            for _ in range(int(line[1:])):
                self.reply()
            return line
        if not line.startswith(b"$") or line == b"$-1":
            return line
        size = int(line[1:])
        while len(self.buffer) < size + 2:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size + 2:]
        return data

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def _connections(port: int, count: int) -> Iterator[list[Raw]]:
    conns: list[Raw] = []
    try:
        conns.extend(Raw(port) for _ in range(count))  # each kept as made: closed below
        yield conns
    finally:
        for conn in conns:
            conn.close()


def _fields(line: bytes) -> list[tuple[str, str]]:
    return [tuple(part.split("=", 1)) for part in line.decode().split(" ")]  # type: ignore[misc]


def _lines(caller: Raw) -> dict[str, list[tuple[str, str]]]:
    """CLIENT LIST from ``caller``, by client id."""
    text = caller.call("CLIENT", "LIST")
    found = {}
    for line in text.splitlines():
        fields = _fields(line)
        found[dict(fields)["id"]] = fields
    return found


def _cmd(caller: Raw, client_id: str) -> str:
    return dict(_lines(caller)[client_id])["cmd"]


def test_client_list_prints_redis_fields_in_order_and_the_callers_command(
        target: Target) -> None:
    with _connections(target.port, 2) as (caller, idle):
        caller_id = caller.call("CLIENT", "ID")[1:].decode()
        lines = _lines(caller)
        assert [name for name, _ in lines[caller_id]] == REDIS_7_0_FIELDS
        assert dict(lines[caller_id])["cmd"] == "client|list"
        info = dict(_fields(caller.call("CLIENT", "INFO").rstrip(b"\n")))
        assert list(info) == REDIS_7_0_FIELDS
        assert (info["id"], info["cmd"]) == (caller_id, "client|info")
        del idle


def test_a_connection_that_ran_nothing_shows_null(target: Target) -> None:
    with _connections(target.port, 2) as (caller, idle):
        caller.call("PING")
        mine = {dict(fields)["addr"]: dict(fields)["cmd"]
                for fields in _lines(caller).values()}
        local = idle.sock.getsockname()
        assert mine[f"{local[0]}:{local[1]}"] == "NULL"


@pytest.mark.parametrize(("argv", "expected"), [
    (("SET", "t:client-list:k", "v"), "set"),
    (("get", "t:client-list:k"), "get"),
    (("GET",), "get"),  # a wrong arity still names the command
    (("NOSUCHCOMMAND",), "NULL"),
    (("CONFIG", "GET", "maxmemory"), "config|get"),
    (("client", "id"), "client|id"),
    (("CLIENT", "NOSUCHSUB"), "NULL"),
    (("XGROUP", "HELP"), "xgroup|help"),
])
def test_another_connection_shows_the_last_command_it_ran(
        target: Target, argv: tuple[str, ...], expected: str) -> None:
    with _connections(target.port, 2) as (caller, other):
        other_id = other.call("CLIENT", "ID")[1:].decode()
        assert _cmd(caller, other_id) == "client|id"
        other.call(*argv)
        assert _cmd(caller, other_id) == expected
        other.call("PING")
        assert _cmd(caller, other_id) == "ping"
    with _connections(target.port, 1) as (cleanup,):
        cleanup.call("DEL", "t:client-list:k")


def test_transactions_and_blocked_clients_show_what_redis_shows(target: Target) -> None:
    with _connections(target.port, 2) as (caller, other):
        other_id = other.call("CLIENT", "ID")[1:].decode()
        other.call("MULTI")
        other.call("CONFIG", "GET", "maxmemory")
        assert _cmd(caller, other_id) == "config|get"  # queued commands count
        other.call("EXEC")
        assert _cmd(caller, other_id) == "exec"
        other.send("BLPOP", "t:client-list:empty", "0")
        deadline = time.monotonic() + TIMEOUT_S
        while "b" not in dict(_lines(caller)[other_id])["flags"]:
            assert time.monotonic() < deadline, "the client never blocked"
            time.sleep(0.01)
        assert _cmd(caller, other_id) == "blpop"
        caller.call("CLIENT", "UNBLOCK", other_id)
        assert other.reply() == b"*-1"
