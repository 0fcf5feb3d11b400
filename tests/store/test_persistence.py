"""Persistence: the snapshot format, AOF loading, and real servers killed and restarted.

The codec tests run in-process; the black-box tests start ``hld store`` processes with a
data directory, write through redis-py, crash them with SIGKILL or stop them, damage
files on purpose, and start them again.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.kv.hll import HyperLogLog
from hld.core.stream.ids import make_id
from hld.core.stream.stream import Stream
from hld.store.persistence import aof, snapshot
from tests.store.store_process import StoreProcess, running

# -- the snapshot codec ------------------------------------------------------------------


def sample_stream() -> Stream:
    stream = Stream()
    for i in range(1, 6):
        stream.add((b"n", b"%d" % i), b"%d-0" % i, now_ms=0)
    stream.delete([make_id(2, 0)])
    group = stream.create_group(b"g", 0, 0)
    group.read_new(b"alice", 3, noack=False, now_ms=1000)
    group.claim(b"bob", 0, [make_id(3, 0)], now_ms=2000)
    stream.create_group(b"h", make_id(4, 0), None)
    return stream


def stream_state(stream: Stream) -> Any:
    groups = {
        name: (g.last_id, g.entries_read, sorted(g.consumers),
               sorted((i, p.consumer.name, p.delivery_time_ms, p.delivery_count)
                      for i, p in g.pel.items()))
        for name, g in stream.groups.items()}
    return (stream.entries(), stream.last_id, stream.max_deleted_id, stream.entries_added,
            groups)


def test_snapshot_round_trips_every_type() -> None:
    hll = HyperLogLog()
    for i in range(100):
        hll.add(b"%d" % i)
    values: dict[bytes, Any] = {
        b"str": b"bin\x00ary", b"hash": {b"f": b"v", b"g": b""}, b"list": deque([b"a", b"b"]),
        b"set": {b"x", b"y"}, b"hll": hll, b"stream": sample_stream(),
    }
    items = [(k, b"", v, 123456 if k == b"str" else None) for k, v in values.items()]
    aux, records, _ = snapshot.loads(snapshot.dumps(items, {b"ctime": b"1"}))
    assert aux == {b"ctime": b"1"}
    loaded = {key: (value, expire) for key, value, expire in records}
    assert loaded[b"str"] == (b"bin\x00ary", 123456)
    assert loaded[b"hash"][0] == values[b"hash"]
    assert loaded[b"list"][0] == values[b"list"]
    assert loaded[b"set"][0] == values[b"set"]
    assert loaded[b"hll"][0].count() == hll.count()
    assert stream_state(loaded[b"stream"][0]) == stream_state(values[b"stream"])


def test_a_flipped_byte_is_reported_with_its_offset() -> None:
    data = bytearray(snapshot.dumps([(b"k", b"", b"value", None)]))
    data[-8] ^= 0xFF  # inside the record: the checksum no longer matches
    with pytest.raises(snapshot.CorruptSnapshot) as info:
        snapshot.loads(bytes(data))
    assert info.value.offset == len(data) - 4
    assert "checksum mismatch" in str(info.value)


def test_a_truncated_snapshot_and_a_wrong_magic_are_refused() -> None:
    data = snapshot.dumps([(b"k", b"", b"value", None)])
    with pytest.raises(snapshot.CorruptSnapshot, match="exceeds the data left"):
        snapshot.loads(data[:-6])
    with pytest.raises(snapshot.CorruptSnapshot, match="bad magic"):
        snapshot.loads(b"REDIS0011" + data)


def _every_type_snapshot() -> bytes:
    hll = HyperLogLog()
    hll.add(b"x")
    values: list[Any] = [b"s", {b"f": b"v"}, deque([b"a"]), {b"m"}, hll, sample_stream()]
    return snapshot.dumps([(b"k%d" % i, b"", v, None) for i, v in enumerate(values)])


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_damaged_snapshots_always_fail_cleanly(data: st.DataObject) -> None:
    """A cut or a flipped byte anywhere: CorruptSnapshot, never another exception."""
    good = _every_type_snapshot()
    cut = data.draw(st.integers(0, len(good) - 1))
    with pytest.raises(snapshot.CorruptSnapshot):
        snapshot.loads(good[:cut])
    flip = data.draw(st.integers(0, len(good) - 1))
    damaged = bytearray(good)
    damaged[flip] ^= data.draw(st.integers(1, 255))
    with pytest.raises(snapshot.CorruptSnapshot):
        snapshot.loads(bytes(damaged))


def test_an_absurd_count_is_refused_without_allocating() -> None:
    data = bytearray(snapshot.dumps([(b"k", b"", {b"f": b"v"}, None)]))
    at = data.index(b"\x01\x00\x00\x00\x01\x00\x00\x00f")  # the hash's count
    data[at:at + 4] = b"\xff\xff\xff\x7f"
    with pytest.raises(snapshot.CorruptSnapshot, match="exceeds the data left"):
        snapshot.loads(bytes(data))


# -- AOF loading -------------------------------------------------------------------------

def replay(data: bytes, **kwargs: Any) -> tuple[aof.LoadResult, list[list[bytes]]]:
    applied: list[list[bytes]] = []
    result = aof.load("test.aof", data, restore=lambda records: None, apply=applied.append,
                      **kwargs)
    return result, applied


def test_a_torn_last_command_keeps_the_valid_prefix() -> None:
    good = aof.encode([b"SET", b"a", b"1"]) + aof.encode([b"SET", b"b", b"2"])
    for cut in range(1, len(aof.encode([b"SET", b"c", b"3"]))):
        torn = good + aof.encode([b"SET", b"c", b"3"])[:cut]
        result, applied = replay(torn)
        assert (result.valid_bytes, result.file_bytes) == (len(good), len(torn))
        assert applied == [[b"SET", b"a", b"1"], [b"SET", b"b", b"2"]]


def test_an_unfinished_transaction_at_the_end_is_dropped_whole() -> None:
    data = (aof.encode([b"SET", b"a", b"1"]) + aof.encode([b"MULTI"])
            + aof.encode([b"INCR", b"n"]))
    result, applied = replay(data)
    assert applied == [[b"SET", b"a", b"1"]]
    assert result.valid_bytes == len(aof.encode([b"SET", b"a", b"1"]))


def test_bad_bytes_in_the_middle_name_the_offset() -> None:
    first = aof.encode([b"SET", b"a", b"1"])
    data = first + b"?garbage\r\n" + aof.encode([b"SET", b"b", b"2"])
    with pytest.raises(aof.CorruptFile) as info:
        replay(data)
    assert info.value.offset == len(first)
    assert str(info.value).startswith("test.aof: expected '*'")


def test_a_torn_tail_is_corruption_when_truncation_is_not_allowed() -> None:
    with pytest.raises(aof.CorruptFile, match="truncated command"):
        replay(aof.encode([b"SET", b"a", b"1"])[:-3], allow_truncated=False)


# -- real servers ------------------------------------------------------------------------


def _writer(port: int, prefix: str, acked: list[str], stop: threading.Event) -> None:
    client = redis.Redis(port=port, socket_timeout=5)
    i = 0
    try:
        while not stop.is_set() and i < 100_000:
            key = f"{prefix}:{i}"
            try:
                client.set(key, i)
            except (redis.ConnectionError, redis.TimeoutError):
                return
            acked.append(key)  # only after the server acknowledged it
            i += 1
    finally:
        client.close()


@pytest.mark.blackbox
def test_under_appendfsync_always_a_write_is_in_the_file_before_its_reply(
        tmp_path: Path) -> None:
    """Deterministic: read the AOF right after each reply (single and pipelined writes)."""
    with running(tmp_path, "--appendonly", "yes", "--appendfsync", "always") as server, \
            server.client() as client:
        path = tmp_path / "appendonly.aof"
        for i in range(20):
            client.set(f"single:{i}", i)
            assert aof.encode([b"SET", b"single:%d" % i, b"%d" % i]) in path.read_bytes()
        pipe = client.pipeline(transaction=False)
        for i in range(20):
            pipe.set(f"piped:{i}", i)
        pipe.execute()
        assert aof.encode([b"SET", b"piped:19", b"19"]) in path.read_bytes()


def test_with_the_aof_on_replies_pushes_and_wake_ups_keep_their_order(
        tmp_path: Path) -> None:
    """Replies wait for the iteration's AOF write (group commit): every path that answers
    a client (pipelines, pub/sub pushes, a blocked client woken by another) still answers
    in order, and many clients written at once all find their writes in the file."""
    with running(tmp_path, "--appendonly", "yes", "--appendfsync", "always") as server, \
            server.client() as client:
        pubsub = client.pubsub()
        pubsub.subscribe("news")
        assert pubsub.get_message(timeout=5)["type"] == "subscribe"
        pipe = client.pipeline(transaction=False)
        for i in range(50):
            pipe.publish("news", f"m{i}")
            pipe.incr("published")
        assert pipe.execute()[-1] == 50
        got: list[bytes] = []
        while len(got) < 50:
            message = pubsub.get_message(timeout=5)
            assert message is not None
            got.append(message["data"])
        assert got == [f"m{i}".encode() for i in range(50)]
        pubsub.close()
        woken: list[Any] = []
        waiter = threading.Thread(target=lambda: woken.append(
            server.client().blpop(["jobs"], timeout=10)))
        waiter.start()
        time.sleep(0.3)
        client.rpush("jobs", "j1")
        waiter.join(timeout=10)
        assert woken == [(b"jobs", b"j1")]
        acked: list[list[str]] = [[] for _ in range(8)]
        stop = threading.Event()
        writers = [threading.Thread(target=_writer, args=(server.port, f"g{n}", acked[n], stop))
                   for n in range(8)]
        for writer in writers:
            writer.start()
        time.sleep(0.5)
        stop.set()
        for writer in writers:
            writer.join(timeout=10)
        text = (tmp_path / "appendonly.aof").read_bytes()
        keys = [key for per_writer in acked for key in per_writer]
        assert keys
        assert [k for k in keys if k.encode() not in text] == []


@pytest.mark.blackbox
def test_every_acknowledged_write_survives_kill_9_under_appendfsync_always(
        tmp_path: Path) -> None:
    server = StoreProcess(tmp_path, "--appendonly", "yes", "--appendfsync", "always")
    try:
        server.start()
        stop = threading.Event()
        acked: list[list[str]] = [[], [], []]
        threads = [threading.Thread(target=_writer, args=(server.port, f"w{n}", acked[n], stop))
                   for n in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(0.6)
        server.kill9()
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        keys = [key for per_thread in acked for key in per_thread]
        assert len(keys) > 50  # the load was real
        server.start()
        with server.client() as client:
            values = client.mget(keys)
        missing = [k for k, v in zip(keys, values, strict=True) if v is None]
        assert missing == []
    finally:
        server.stop()


def _refused(data_dir: Path, *args: str) -> str:
    """Start a server expected to refuse; return what it logged."""
    server = StoreProcess(data_dir, *args)
    try:
        server.start(wait=False)
        assert server.wait_exit(timeout_s=30) != 0
        return server.log()
    finally:
        server.stop()


@pytest.mark.blackbox
def test_a_truncated_aof_tail_is_recovered_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "appendonly.aof"
    valid = (aof.encode([b"SET", b"a", b"1"])
             + aof.encode([b"XADD", b"st", b"1-0", b"f", b"v"]))
    torn = aof.encode([b"SET", b"b", b"hello"])[:-5]  # a write torn by a crash
    path.write_bytes(valid + torn)
    with running(tmp_path, "--appendonly", "yes") as server, server.client() as client:
        assert (client.get("a"), client.xlen("st"), client.get("b")) == (b"1", 1, None)
        assert f"{path} truncated at byte offset {len(valid)}" in server.log()
        client.set("c", "after")
    assert path.read_bytes().startswith(valid + aof.encode([b"set", b"c", b"after"])[:4])


@pytest.mark.blackbox
def test_a_corrupted_aof_refuses_to_start_naming_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "appendonly.aof"
    first = aof.encode([b"SET", b"k1", b"1"])
    path.write_bytes(first + b"!" + aof.encode([b"SET", b"k2", b"2"])[1:])
    log = _refused(tmp_path, "--appendonly", "yes")
    assert f"{path}: expected '*', found byte 0x21 at byte offset {len(first)}" in log


@pytest.mark.blackbox
def test_save_and_bgsave_snapshots_load_every_type_at_start(tmp_path: Path) -> None:
    server = StoreProcess(tmp_path)
    try:
        server.start()
        with server.client() as client:
            client.set("s", "v", ex=1000)
            client.hset("h", mapping={"f": "1", "g": "2"})
            client.rpush("l", "a", "b", "c")
            client.sadd("set", "x", "y")
            client.zadd("z", {"m": 1.5, "n": -2})
            client.pfadd("hll", *[f"e{i}" for i in range(50)])
            client.xadd("st", {"f": "v"}, id="1-0")
            client.xgroup_create("st", "g", id="0")
            client.xreadgroup("g", "c", {"st": ">"})
            before = client.lastsave()
            assert client.save()
            assert client.info("persistence")["rdb_changes_since_last_save"] == 0
            assert client.lastsave() >= before
            client.mset({f"k{i}": i for i in range(200)})
            assert client.bgsave()
            deadline = time.monotonic() + 10
            while client.info("persistence")["rdb_changes_since_last_save"] and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            fields = client.info("persistence")
            assert (fields["rdb_last_bgsave_status"], fields["aof_enabled"]) == ("ok", 0)
            assert fields["rdb_last_save_time"] >= int(time.time()) - 60
        server.kill9()  # no save at shutdown: what loads is what BGSAVE wrote
        server.start()
        with server.client() as client:
            assert client.get("s") == b"v"
            assert 0 < client.ttl("s") <= 1000
            assert client.hgetall("h") == {b"f": b"1", b"g": b"2"}
            assert client.lrange("l", 0, -1) == [b"a", b"b", b"c"]
            assert client.smembers("set") == {b"x", b"y"}
            assert client.zrange("z", 0, -1, withscores=True) == [(b"n", -2.0), (b"m", 1.5)]
            assert client.pfcount("hll") == 50
            assert client.xpending("st", "g")["pending"] == 1
            assert client.get("k199") == b"199"
            assert client.dbsize() == 207
    finally:
        server.stop()


@pytest.mark.blackbox
def test_a_corrupted_snapshot_refuses_to_start_naming_file_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "dump.hld"
    data = bytearray(snapshot.dumps([(b"k", b"", b"v" * 100, None)]))
    data[data.index(b"v" * 100) + 50] ^= 0x55  # damage inside the value: only the crc knows
    path.write_bytes(bytes(data))
    log = _refused(tmp_path)
    assert f"{path}: checksum mismatch" in log
    assert f"at byte offset {len(data) - 4}" in log


@pytest.mark.blackbox
def test_aof_switched_on_at_run_time_and_rewritten_under_writes_loses_nothing(
        tmp_path: Path) -> None:
    """CONFIG SET appendonly yes (a background rewrite makes the first file), then more
    BGREWRITEAOFs while a client writes; after kill -9 every acknowledged write is back."""
    server = StoreProcess(tmp_path)
    try:
        server.start()
        stop = threading.Event()
        acked: list[str] = []
        with server.client() as client:
            client.mset({f"before:{i}": i for i in range(100)})
            client.config_set("appendfsync", "always")
            thread = threading.Thread(target=_writer, args=(server.port, "rw", acked, stop))
            thread.start()
            client.config_set("appendonly", "yes")
            for _ in range(3):
                deadline = time.monotonic() + 10
                while client.info("persistence")["aof_rewrite_in_progress"] and \
                        time.monotonic() < deadline:
                    time.sleep(0.02)
                fields = client.info("persistence")
                assert (fields["aof_last_bgrewrite_status"], fields["aof_enabled"]) == ("ok", 1)
                time.sleep(0.2)
                client.bgrewriteaof()
        stop.set()
        thread.join(timeout=10)
        assert snapshot.is_snapshot((tmp_path / "appendonly.aof").read_bytes())
        server.kill9()
        server = StoreProcess(tmp_path, "--appendonly", "yes", port=server.port)
        server.start()
        with server.client() as client:
            values = client.mget(acked)
            assert client.get("before:99") == b"99"
        assert [k for k, v in zip(acked, values, strict=True) if v is None] == []
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("temp")) == []
        assert len(acked) > 20
    finally:
        server.stop()


@pytest.mark.parametrize("argv", [[b"SET", b"k", b""], [b"X"], [b"\x00\r\n", b"$3\r\n"]])
def test_the_fast_encoder_matches_the_reference(argv: list[bytes]) -> None:
    assert aof.encode_slow(argv) == aof.encode(argv)
