"""Replication between real hld-store processes: sync, read-only replicas, WAIT, ROLE,
catch-up after a primary restart, and promotion."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.store.store_process import StoreProcess
from tests.store.test_streams import _random_stream_command

pytestmark = pytest.mark.blackbox

CATCH_UP_TIMEOUT_S = 15.0


def eventually(check: Callable[[], Any], timeout_s: float = CATCH_UP_TIMEOUT_S) -> Any:
    """Poll ``check`` until it returns a truthy value; fail with its last value."""
    deadline = time.monotonic() + timeout_s
    value = check()
    while not value and time.monotonic() < deadline:
        time.sleep(0.05)
        value = check()
    assert value, f"condition still false after {timeout_s}s: {value!r}"
    return value


def stream_state(client: redis.Redis, key: str) -> Any:
    """Everything observable about a stream except times: entries, metadata, groups, PELs."""
    try:
        info = client.xinfo_stream(key)
    except redis.ResponseError as exc:
        return str(exc)
    groups = []
    for group in client.xinfo_groups(key):
        pending = [(x["message_id"], x["consumer"], x["times_delivered"])
                   for x in client.xpending_range(key, group["name"], "-", "+", 1000)]
        consumers = sorted((x["name"], x["pending"])
                           for x in client.xinfo_consumers(key, group["name"]))
        groups.append((group, pending, consumers))
    return (info["length"], info["last-generated-id"], info["entries-added"],
            info["max-deleted-entry-id"], client.xrange(key), groups)


def random_stream_sessions(client: redis.Redis, seeds: range) -> list[str]:
    """Run seeded random stream sessions (as in test_streams); returns their keys."""
    keys = []
    for seed in seeds:
        rng = random.Random(seed)
        key = f"rep:{seed}"
        keys.append(key)
        ids: list[str] = []
        for _step in range(100):
            argv = _random_stream_command(rng, key, ids)
            try:
                reply = client.execute_command(*argv)
            except redis.ResponseError:
                continue
            if argv[0] == "XADD" and isinstance(reply, bytes):
                ids.append(reply.decode())
    return keys


def test_replicas_follow_writes_refuse_writes_and_acknowledge_for_wait(tmp_path: Path) -> None:
    primary = StoreProcess(tmp_path / "primary")
    flagged = StoreProcess(tmp_path / "r1", "--replicaof", "127.0.0.1", str(primary.port))
    runtime = StoreProcess(tmp_path / "r2")
    try:
        primary.start()
        p = primary.client(socket_timeout=10)
        p.set("before", "1")
        p.xadd("jobs", {"n": "1"})
        p.xgroup_create("jobs", "g", id="0")
        flagged.start()
        runtime.start()
        r1 = flagged.client(socket_timeout=10)
        r2 = runtime.client(socket_timeout=10)
        assert r2.replicaof("127.0.0.1", primary.port)
        eventually(lambda: r1.get("before") == b"1" and r2.get("before") == b"1")

        p.set("k", "v")
        p.incr("counter")
        p.xreadgroup("g", "worker", {"jobs": ">"})
        assert p.wait(2, 5000) == 2  # both replicas acknowledged everything so far
        for replica in (r1, r2):
            assert (replica.get("k"), replica.get("counter")) == (b"v", b"1")
            pending = replica.xpending_range("jobs", "g", "-", "+", 10)
            assert [(x["consumer"], x["times_delivered"]) for x in pending] == [
                (b"worker", 1)]
            assert replica.xinfo_groups("jobs")[0]["last-delivered-id"] == \
                p.xinfo_groups("jobs")[0]["last-delivered-id"]

        with pytest.raises(redis.ReadOnlyError, match="You can't write against a read only"):
            r1.set("nope", "1")

        started = time.monotonic()
        assert p.wait(3, 300) == 2  # only two replicas exist: the timeout answers 2
        assert time.monotonic() - started >= 0.25

        role = p.execute_command("ROLE")
        assert role[0] == b"master"
        assert sorted(int(r[1]) for r in role[2]) == sorted([flagged.port, runtime.port])
        replica_role = r1.execute_command("ROLE")
        assert replica_role[:4] == [b"slave", b"127.0.0.1", primary.port, b"connected"]
        info = p.info("replication")
        assert (info["role"], info["connected_slaves"]) == ("master", 2)
        assert info["master_repl_offset"] > 0
        replica_info = r2.info("replication")
        assert (replica_info["role"], replica_info["master_link_status"]) == ("slave", "up")
        assert eventually(lambda: r2.info("replication")["slave_repl_offset"]
                          == p.info("replication")["master_repl_offset"])
    finally:
        for server in (runtime, flagged, primary):
            server.stop()


def test_a_replica_catches_up_after_a_primary_restart_and_is_promoted(tmp_path: Path) -> None:
    primary = StoreProcess(tmp_path / "primary", "--appendonly", "yes")
    replica = StoreProcess(tmp_path / "replica", "--replicaof", "127.0.0.1", str(primary.port))
    try:
        primary.start()
        replica.start()
        p = primary.client(socket_timeout=10)
        p.set("a", "1")
        keys = random_stream_sessions(p, range(6))
        saved = {key: stream_state(p, key) for key in keys}
        r = replica.client(socket_timeout=10)
        eventually(lambda: r.get("a") == b"1")
        assert p.wait(1, 5000) == 1
        # Group reads and claims were propagated in their deterministic form.
        assert {key: stream_state(r, key) for key in keys} == saved
        p.close()

        primary.kill9()
        eventually(lambda: r.info("replication")["master_link_status"] == "down")
        assert r.get("a") == b"1"  # a replica keeps serving reads while its primary is down
        primary.start()
        with primary.client() as p:
            p.set("b", "2")
            assert p.get("a") == b"1"  # from the primary's AOF
            # Replaying the AOF rebuilt every stream exactly, consumer groups included.
            assert {key: stream_state(p, key) for key in keys} == saved
        eventually(lambda: r.mget("a", "b") == [b"1", b"2"])
        assert r.info("replication")["master_link_status"] == "up"

        assert r.replicaof("NO", "ONE")
        assert r.execute_command("ROLE")[0] == b"master"
        r.set("after-promotion", "yes")
        assert r.get("after-promotion") == b"yes"
        info = r.info("replication")
        assert info["role"] == "master"
        assert info["master_replid2"] != "0" * 40
    finally:
        replica.stop()
        primary.stop()
