"""SHUTDOWN as redis-server 7.0 does it: the final snapshot is saved when save points are
configured (always with SAVE, never with NOSAVE; SIGTERM as a plain SHUTDOWN), the AOF
keeps every write, a failed final save keeps the server running unless FORCE, and bad
option combinations, ABORT without a shutdown in progress and SHUTDOWN inside MULTI are
refused. Each case runs on hld-store and on a real redis-server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import redis

from tests.store.conftest import Target
from tests.store.test_blocked_key_removed import _encode
from tests.store.test_save_points import _server

pytestmark = pytest.mark.blackbox

KINDS = ["hld", "redis"]
NEVER_REACHED = "3600 1000"  # a save point no test reaches: only the shutdown saves
SNAPSHOT = {"hld": "dump.hld", "redis": "dump.rdb"}
SHUTDOWN_FAILED = "Errors trying to SHUTDOWN. Check logs."


def _stop(client: redis.Redis, how: str) -> None:
    """``how``: SHUTDOWN with options (or none), or "sigterm" (left to the fixture).

    Sent over a raw socket: the server closes the connection without a reply (redis-py
    would retry a closed connection for seconds)."""
    if how == "sigterm":
        return
    port = int(client.connection_pool.connection_kwargs["port"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_encode(*how.split()))
        assert sock.recv(4096) == b"", "SHUTDOWN answered instead of closing"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("save", "how", "saved"), [
    ("", "SHUTDOWN", False),
    ("", "SHUTDOWN SAVE", True),
    ("", "sigterm", False),
    (NEVER_REACHED, "SHUTDOWN", True),
    (NEVER_REACHED, "SHUTDOWN NOSAVE", False),
    (NEVER_REACHED, "SHUTDOWN NOW FORCE", True),
    (NEVER_REACHED, "sigterm", True),
])
def test_the_final_snapshot_is_saved_as_the_save_points_and_options_say(
        kind: str, tmp_path: Path, save: str, how: str, saved: bool) -> None:
    with _server(kind, tmp_path, save) as client:
        client.set("k", "v")
        _stop(client, how)
    assert (tmp_path / SNAPSHOT[kind]).exists() == saved
    with _server(kind, tmp_path, "") as again:
        assert again.get("k") == (b"v" if saved else None)


@pytest.mark.parametrize("kind", KINDS)
def test_with_the_aof_on_shutdown_keeps_every_write_and_saves_only_with_save_points(
        kind: str, tmp_path: Path) -> None:
    aof = ("--appendonly", "yes", "--appendfsync", "no")
    with _server(kind, tmp_path, "", extra=aof) as client:
        client.mset({"a": "1", "b": "2"})
        _stop(client, "SHUTDOWN")
    assert not (tmp_path / SNAPSHOT[kind]).exists()
    with _server(kind, tmp_path, NEVER_REACHED, extra=aof) as again:
        assert again.mget("a", "b") == [b"1", b"2"]
        _stop(again, "SHUTDOWN")
    assert (tmp_path / SNAPSHOT[kind]).exists()


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_final_save_keeps_the_server_running_unless_force(
        kind: str, tmp_path: Path) -> None:
    with _server(kind, tmp_path, NEVER_REACHED) as client:
        client.set("k", "v")
        (tmp_path / SNAPSHOT[kind]).mkdir()  # the snapshot cannot be renamed into place
        with pytest.raises(redis.ResponseError) as caught:
            client.execute_command("SHUTDOWN")
        assert str(caught.value) == SHUTDOWN_FAILED
        assert client.get("k") == b"v"
        _stop(client, "SHUTDOWN FORCE")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("temp")] == []


@pytest.mark.parametrize(("argv", "reply"), [
    (("SHUTDOWN", "BOGUS"), b"-ERR syntax error\r\n"),
    (("SHUTDOWN", "SAVE", "NOSAVE"), b"-ERR syntax error\r\n"),
    (("SHUTDOWN", "ABORT", "NOW"), b"-ERR syntax error\r\n"),
    (("shutdown", "abort"), b"-ERR No shutdown in progress.\r\n"),
])
def test_bad_shutdown_options_are_refused_and_the_server_runs_on(
        target: Target, r: redis.Redis, argv: tuple[str, ...], reply: bytes) -> None:
    with socket.create_connection(("127.0.0.1", target.port), timeout=5) as sock:
        sock.sendall(_encode(*argv))
        assert sock.recv(4096) == reply
    assert r.ping() is True


def test_shutdown_inside_multi_is_refused(target: Target, r: redis.Redis) -> None:
    expected = (b"+OK\r\n-ERR Command not allowed inside a transaction\r\n"
                b"-EXECABORT Transaction discarded because of previous errors.\r\n")
    with socket.create_connection(("127.0.0.1", target.port), timeout=5) as sock:
        sock.sendall(_encode("MULTI") + _encode("SHUTDOWN", "NOSAVE") + _encode("EXEC"))
        got = b""
        while len(got) < len(expected):
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
    assert got == expected
    assert r.ping() is True
