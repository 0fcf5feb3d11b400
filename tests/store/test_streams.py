"""Streams over the real protocol with redis-py: one suite, two servers.

Every test runs against hld-store and against a real redis-server (the shared ``target``
and ``r`` fixtures of ``tests/store/conftest.py``); where hld-store claims compatibility
the replies must be the same. Keys are named after the test so the two session-wide
servers can be shared.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
import redis

from tests.store.conftest import Target

pytestmark = pytest.mark.blackbox


@pytest.fixture
def port(target: Target) -> int:
    """The port of the server under test (the shared ``target`` fixture: hld or redis)."""
    return target.port


@pytest.fixture
def key(request: pytest.FixtureRequest, r: redis.Redis) -> str:
    name = f"s:{request.node.name}"
    r.delete(name, name + ":2", name + ":dlq")
    return name


def error_of(call: object) -> str:
    with pytest.raises(redis.ResponseError) as info:
        call()  # type: ignore[operator]
    return str(info.value)


def test_ids_increase_and_explicit_ids_must_grow(r: redis.Redis, key: str) -> None:
    first = r.xadd(key, {"a": "1"}, id="5-1")
    assert first == b"5-1"
    assert r.xadd(key, {"a": "2"}, id="5-*") == b"5-2"
    assert r.xadd(key, {"a": "3"}, id="6") == b"6-0"
    assert error_of(lambda: r.xadd(key, {"a": "4"}, id="6-0")) == (
        "The ID specified in XADD is equal or smaller than the target stream top item")
    assert error_of(lambda: r.xadd(key + ":2", {"a": "1"}, id="0-0")) == (
        "The ID specified in XADD must be greater than 0-0")
    auto = r.xadd(key, {"a": "5"})
    assert int(auto.split(b"-")[0]) > 6
    assert r.xlen(key) == 4


def test_ranges_with_counts_exclusive_bounds_and_reverse(r: redis.Redis, key: str) -> None:
    for i in range(1, 6):
        r.xadd(key, {"n": str(i)}, id=f"{i}-0")
    assert [e[0] for e in r.xrange(key, "2", "4")] == [b"2-0", b"3-0", b"4-0"]
    assert [e[0] for e in r.xrange(key, "(2-0", "+", count=2)] == [b"3-0", b"4-0"]
    assert [e[0] for e in r.xrevrange(key, "+", "-", count=2)] == [b"5-0", b"4-0"]
    assert r.xrange(key, "-", "+")[0] == (b"1-0", {b"n": b"1"})
    assert r.xrange(key + ":2", "-", "+") == []


def test_delete_and_exact_and_approximate_trimming(r: redis.Redis, key: str) -> None:
    for i in range(1, 11):
        r.xadd(key, {"n": str(i)}, id=f"{i}-0")
    assert r.xdel(key, "2-0", "3-0", "99-0") == 2
    assert r.xtrim(key, maxlen=5, approximate=False) == 3
    assert [e[0] for e in r.xrange(key)] == [b"6-0", b"7-0", b"8-0", b"9-0", b"10-0"]
    assert r.xtrim(key, minid="8", approximate=False) == 2
    r.xadd(key, {"n": "11"}, id="11-0", maxlen=2, approximate=False)
    assert r.xlen(key) == 2
    for i in range(12, 312):
        r.xadd(key, {"n": str(i)}, id=f"{i}-0")
    r.xtrim(key, maxlen=10, approximate=True)
    assert r.xlen(key) >= 10  # approximate trimming never goes below the threshold


def test_nomkstream_and_wrong_type(r: redis.Redis, key: str) -> None:
    assert r.xadd(key, {"a": "1"}, nomkstream=True) is None
    assert r.exists(key) == 0
    r.set(key, "plain")
    assert error_of(lambda: r.xadd(key, {"a": "1"})).startswith("WRONGTYPE")
    assert error_of(lambda: r.xlen(key)).startswith("WRONGTYPE")
    r.delete(key)
    r.xadd(key, {"a": "1"})
    assert r.type(key) == b"stream"
    assert error_of(lambda: r.get(key)).startswith("WRONGTYPE")


def test_xread_returns_entries_after_each_id(r: redis.Redis, key: str) -> None:
    r.xadd(key, {"a": "1"}, id="1-0")
    r.xadd(key, {"a": "2"}, id="2-0")
    r.xadd(key + ":2", {"b": "1"}, id="1-0")
    got = r.xread({key: "1-0", key + ":2": "0"}, count=10)
    assert got == [[key.encode(), [(b"2-0", {b"a": b"2"})]],
                   [(key + ":2").encode(), [(b"1-0", {b"b": b"1"})]]]
    assert r.xread({key: "$"}) == []


def test_blocking_xread_with_dollar_is_woken_by_xadd(r: redis.Redis, key: str,
                                                     port: int) -> None:
    r.xadd(key, {"old": "1"}, id="1-0")
    writer = redis.Redis(port=port)

    def add_later() -> None:
        time.sleep(0.2)
        writer.xadd(key, {"new": "1"}, id="2-0")

    thread = threading.Thread(target=add_later)
    thread.start()
    try:
        got = r.xread({key: "$"}, block=5000)
    finally:
        thread.join()
        writer.close()
    assert got == [[key.encode(), [(b"2-0", {b"new": b"1"})]]]


def test_blocking_xread_times_out_with_nil(r: redis.Redis, key: str) -> None:
    started = time.monotonic()
    assert r.xread({key: "$"}, block=100) == []
    assert time.monotonic() - started >= 0.09


def test_group_delivery_pending_and_ack(r: redis.Redis, key: str) -> None:
    assert r.xgroup_create(key, "g", id="0", mkstream=True)
    assert error_of(lambda: r.xgroup_create(key, "g", id="0")) == (
        "BUSYGROUP Consumer Group name already exists")
    for i in range(1, 4):
        r.xadd(key, {"n": str(i)}, id=f"{i}-0")
    got = r.xreadgroup("g", "alice", {key: ">"}, count=2)
    assert got == [[key.encode(), [(b"1-0", {b"n": b"1"}), (b"2-0", {b"n": b"2"})]]]
    r.xreadgroup("g", "bob", {key: ">"})
    summary = r.xpending(key, "g")
    assert (summary["pending"], summary["min"], summary["max"]) == (3, b"1-0", b"3-0")
    assert summary["consumers"] == [{"name": b"alice", "pending": 2},
                                    {"name": b"bob", "pending": 1}]
    detail = r.xpending_range(key, "g", "-", "+", 10, consumername="alice")
    assert [(d["message_id"], d["times_delivered"]) for d in detail] == [
        (b"1-0", 1), (b"2-0", 1)]
    assert r.xack(key, "g", "1-0", "1-0", "9-0") == 1
    history = r.xreadgroup("g", "alice", {key: "0"})
    assert history == [[key.encode(), [(b"2-0", {b"n": b"2"})]]]
    assert r.xpending_range(key, "g", "-", "+", 10)[0]["times_delivered"] == 2


def test_noack_and_missing_group(r: redis.Redis, key: str) -> None:
    r.xgroup_create(key, "g", id="0", mkstream=True)
    r.xadd(key, {"n": "1"}, id="1-0")
    assert r.xreadgroup("g", "c", {key: ">"}, noack=True)[0][1][0][0] == b"1-0"
    assert r.xpending(key, "g")["pending"] == 0
    message = error_of(lambda: r.xreadgroup("nope", "c", {key: ">"}))
    assert message.startswith(f"NOGROUP No such key '{key}' or consumer group 'nope'")


def test_claim_force_justid_and_deleted_entries(r: redis.Redis, key: str) -> None:
    r.xgroup_create(key, "g", id="0", mkstream=True)
    for i in range(1, 4):
        r.xadd(key, {"n": str(i)}, id=f"{i}-0")
    r.xreadgroup("g", "a", {key: ">"}, count=2)
    assert r.xclaim(key, "g", "b", 3_600_000, ["1-0"]) == []  # not idle an hour
    claimed = r.xclaim(key, "g", "b", 0, ["1-0"], justid=True)
    assert claimed == [b"1-0"]
    assert r.xclaim(key, "g", "b", 0, ["3-0"], force=True, justid=True) == [b"3-0"]
    r.xdel(key, "2-0")
    assert r.xclaim(key, "g", "b", 0, ["2-0"]) == []
    pending = r.xpending_range(key, "g", "-", "+", 10)
    assert [(p["message_id"], p["consumer"]) for p in pending] == [
        (b"1-0", b"b"), (b"3-0", b"b")]


def test_autoclaim_reports_a_cursor_and_deleted_ids(r: redis.Redis, key: str) -> None:
    r.xgroup_create(key, "g", id="0", mkstream=True)
    for i in range(1, 6):
        r.xadd(key, {"n": str(i)}, id=f"{i}-0")
    r.xreadgroup("g", "a", {key: ">"})
    r.xdel(key, "2-0")
    cursor, claimed, deleted = r.execute_command("XAUTOCLAIM", key, "g", "b", 0, "0",
                                                 "COUNT", 2)
    # A deleted entry uses up COUNT too (Redis 7.0).
    assert (cursor, [c[0] for c in claimed], deleted) == (b"3-0", [b"1-0"], [b"2-0"])
    cursor, claimed, deleted = r.execute_command("XAUTOCLAIM", key, "g", "b", 0, cursor)
    assert (cursor, [c[0] for c in claimed], deleted) == (
        b"0-0", [b"3-0", b"4-0", b"5-0"], [])


def test_xinfo_stream_groups_and_consumers(r: redis.Redis, key: str) -> None:
    r.xadd(key, {"n": "1"}, id="1-0")
    r.xadd(key, {"n": "2"}, id="2-0")
    r.xgroup_create(key, "g", id="0")
    r.xgroup_create(key, "late", id="$")
    r.xreadgroup("g", "c", {key: ">"}, count=1)
    stream = r.xinfo_stream(key)
    assert (stream["length"], stream["last-generated-id"], stream["entries-added"],
            stream["groups"]) == (2, b"2-0", 2, 2)
    assert stream["first-entry"] == (b"1-0", {b"n": b"1"})
    groups = {g["name"]: g for g in r.xinfo_groups(key)}
    assert (groups[b"g"]["pending"], groups[b"g"]["entries-read"], groups[b"g"]["lag"]) == (
        1, 1, 1)
    assert (groups[b"late"]["entries-read"], groups[b"late"]["lag"]) == (None, 0)
    consumers = r.xinfo_consumers(key, "g")
    assert [(c["name"], c["pending"]) for c in consumers] == [(b"c", 1)]
    assert r.xgroup_createconsumer(key, "g", "d") == 1
    assert r.xgroup_delconsumer(key, "g", "c") == 1
    assert r.xgroup_destroy(key, "late") == 1
    assert len(r.xinfo_groups(key)) == 1


def test_group_setid_rewinds_delivery(r: redis.Redis, key: str) -> None:
    r.xadd(key, {"n": "1"}, id="1-0")
    r.xgroup_create(key, "g", id="$")
    assert r.xreadgroup("g", "c", {key: ">"}) == []
    r.xgroup_setid(key, "g", id="0")
    assert r.xreadgroup("g", "c", {key: ">"})[0][1][0][0] == b"1-0"


def test_blocking_xreadgroup_is_woken_by_xadd(r: redis.Redis, key: str, port: int) -> None:
    r.xgroup_create(key, "g", id="$", mkstream=True)
    writer = redis.Redis(port=port)

    def add_later() -> None:
        time.sleep(0.2)
        writer.xadd(key, {"job": "1"}, id="7-0")

    thread = threading.Thread(target=add_later)
    thread.start()
    try:
        got = r.xreadgroup("g", "worker", {key: ">"}, block=5000)
    finally:
        thread.join()
        writer.close()
    assert got == [[key.encode(), [(b"7-0", {b"job": b"1"})]]]
    assert r.xpending(key, "g")["pending"] == 1


def test_resp3_xread_is_a_map(port: int, key: str) -> None:
    client = redis.Redis(port=port, protocol=3)
    try:
        client.xadd(key, {"a": "1"}, id="1-0")
        assert client.xread({key: "0"}) == {key.encode(): [[(b"1-0", {b"a": b"1"})]]}
    finally:
        client.close()


def test_dead_letter_after_too_many_deliveries(r: redis.Redis, key: str) -> None:
    """The worker recipe: claim idle entries, dead-letter the ones delivered too often."""
    from hld.core.stream.deadletter import PendingInfo, dead_letter_commands, plan_redelivery
    from hld.core.stream.ids import parse_id

    r.xgroup_create(key, "g", id="0", mkstream=True)
    r.xadd(key, {"job": "poison"}, id="1-0")
    for _ in range(3):  # three deliveries, never acknowledged
        r.xautoclaim(key, "g", "w", 0, start_id="0") if r.xpending(key, "g")["pending"] \
            else r.xreadgroup("g", "w", {key: ">"})
    pending = [PendingInfo(parse_id(p["message_id"]), p["time_since_delivered"],
                           p["times_delivered"])
               for p in r.xpending_range(key, "g", "-", "+", 10)]
    plan = plan_redelivery(pending, visibility_timeout_ms=0, max_deliveries=3)
    assert plan.dead_ids == [parse_id(b"1-0")]
    fields = r.xrange(key, "1-0", "1-0")[0][1]
    flat = tuple(x for kv in fields.items() for x in kv)
    pipe = r.pipeline(transaction=True)
    for argv in dead_letter_commands(source_stream=key.encode(), group=b"g",
                                     dead_stream=(key + ":dlq").encode(), entry_id=plan.dead_ids[0],
                                     fields=flat, delivery_count=3):
        pipe.execute_command(*argv)
    pipe.execute()
    assert r.xpending(key, "g")["pending"] == 0
    dead = r.xrange(key + ":dlq")[0][1]
    assert (dead[b"job"], dead[b"dlq-source-id"], dead[b"dlq-deliveries"]) == (
        b"poison", b"1-0", b"3")


def _random_stream_command(rng: random.Random, key: str, ids: list[str]) -> list[Any]:
    """One stream command whose reply does not depend on the clock."""
    some_id = rng.choice([*ids, "0", "-", "+", "(1-0", "999-9"]) if ids else "0"
    group = rng.choice(["g1", "g2"])
    consumer = rng.choice(["c1", "c2", "c3"])
    choice = rng.randrange(21)
    if choice == 15:
        return ["XCLAIM", key, group, consumer, "0", *(rng.sample(ids, min(2, len(ids))) or
                                                      ["1-0"]), *rng.choice([[], ["FORCE"]])]
    if choice == 16:
        return ["XGROUP", "SETID", key, group, rng.choice(["0", "$", *ids[-2:]])]
    if choice == 17:
        return ["XGROUP", rng.choice(["CREATECONSUMER", "DELCONSUMER"]), key, group, consumer]
    if choice == 18:
        return ["XTRIM", key, "MINID", "=", rng.choice([*ids[-5:], "0"])]
    if choice == 19:
        return ["XREADGROUP", "GROUP", group, consumer, "NOACK", "STREAMS", key, ">"]
    if choice == 20:
        return ["XADD", key, "NOMKSTREAM", f"{ids[-1].split('-')[0] if ids else 1}-*",
                "g", "1"]
    if choice <= 3:
        ms = (int(ids[-1].split("-")[0]) if ids else 0) + rng.choice([0, 0, 1, 2, -1])
        return ["XADD", key, *rng.choice([[], ["MAXLEN", "=", str(rng.randrange(3, 12))]]),
                rng.choice([f"{ms}-*", f"{ms}-{rng.randrange(3)}", str(ms)]),
                "f", str(rng.randrange(100))]
    if choice == 4:
        return ["XRANGE" if rng.random() < 0.5 else "XREVRANGE", key, "-", "+", "COUNT",
                str(rng.randrange(0, 5))]
    if choice == 5:
        return ["XDEL", key, some_id if some_id not in "-+" else "1-0"]
    if choice == 6:
        return ["XGROUP", "CREATE", key, group, rng.choice(["0", "$"]), "MKSTREAM"]
    if choice <= 8:
        return ["XREADGROUP", "GROUP", group, consumer, "COUNT", str(rng.randrange(1, 4)),
                "STREAMS", key, rng.choice([">", ">", "0"])]
    if choice == 9:
        return ["XACK", key, group, *(rng.sample(ids, min(2, len(ids))) or ["1-0"])]
    if choice == 10:
        return ["XPENDING", key, group]
    if choice == 11:
        return ["XAUTOCLAIM", key, group, consumer, "0", "0", "COUNT", str(rng.randrange(1, 4))]
    if choice == 12:
        return ["XINFO", "GROUPS", key]
    if choice == 13:
        return ["XTRIM", key, "MAXLEN", "=", str(rng.randrange(2, 10))]
    return ["XLEN", key]


@pytest.mark.parametrize("seed", range(4))
def test_random_stream_sessions_answer_like_redis(seed: int, hld_store_port: int,
                                                  redis_server: int) -> None:
    """Seeded random sequences of clock-free stream commands: same replies, same state."""
    rng = random.Random(seed)
    key = f"s:random:{seed}"
    clients = [redis.Redis(port=hld_store_port), redis.Redis(port=redis_server)]
    try:
        for client in clients:
            client.delete(key)
        ids: list[str] = []
        for _step in range(120):
            argv = _random_stream_command(rng, key, ids)
            replies = []
            for client in clients:
                try:
                    replies.append(client.execute_command(*argv))
                except redis.ResponseError as exc:
                    replies.append(f"error: {exc}")
            assert replies[0] == replies[1], argv
            if argv[0] == "XADD" and isinstance(replies[0], bytes):
                ids.append(replies[0].decode())
    finally:
        for client in clients:
            client.delete(key)
            client.close()


def test_xadd_with_approximate_maxlen_trims_whole_blocks_like_redis(r: redis.Redis,
                                                                  key: str) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(1, 351):
        pipe.xadd(key, {"n": str(i)}, id=f"{i}-0")
    pipe.execute()
    r.xadd(key, {"n": "351"}, maxlen=120, approximate=True)
    assert r.xlen(key) == 151  # 351 entries in blocks of 100: two whole blocks go
    r.xadd(key, {"n": "352"}, maxlen=10, approximate=True)
    assert r.xlen(key) == 52
    assert r.xadd(key, {"n": "x"}, maxlen=0, approximate=True)
    assert r.xinfo_stream(key)["entries-added"] == 353


def test_xinfo_stream_full_shows_entries_groups_and_pels(r: redis.Redis, key: str,
                                                        port: int) -> None:
    r.xadd(key, {"a": "1"}, id="1-0")
    r.xadd(key, {"a": "2"}, id="2-0")
    r.xgroup_create(key, "g", id="0")
    r.xreadgroup("g", "c", {key: ">"}, count=1)
    full = r.xinfo_stream(key, full=True)
    assert (full["length"], full["entries-added"], full["last-generated-id"]) == (2, 2, b"2-0")
    assert full["entries"] == {b"1-0": {b"a": b"1"}, b"2-0": {b"a": b"2"}}
    [group] = full["groups"]
    assert (group["name"], group["last-delivered-id"], group["entries-read"], group["lag"],
            group["pel-count"]) == (b"g", b"1-0", 1, 1, 1)
    assert [(p[0], p[1], p[3]) for p in group["pending"]] == [(b"1-0", b"c", 1)]
    [consumer] = group["consumers"]
    # redis-py leaves the consumer's keys as bytes in this reply.
    assert (consumer[b"name"], consumer[b"pel-count"]) == (b"c", 1)
    assert [(p[0], p[2]) for p in consumer[b"pending"]] == [(b"1-0", 1)]
    raw = redis.Redis(port=port)
    try:
        raw.response_callbacks.pop("XINFO STREAM", None)  # redis-py has no COUNT here
        limited = raw.execute_command("XINFO", "STREAM", key, "FULL", "COUNT", "1")
    finally:
        raw.close()
    assert limited[b"entries"] == [[b"1-0", [b"a", b"1"]]]


def test_a_reader_blocked_on_a_destroyed_group_is_told_so(r: redis.Redis, key: str,
                                                          port: int) -> None:
    r.xgroup_create(key, "g", id="$", mkstream=True)
    admin = redis.Redis(port=port)

    def destroy_later() -> None:
        time.sleep(0.2)
        admin.xgroup_destroy(key, "g")

    thread = threading.Thread(target=destroy_later)
    thread.start()
    try:
        message = error_of(lambda: r.xreadgroup("g", "c", {key: ">"}, block=3000))
    finally:
        thread.join()
        admin.close()
    assert message == "NOGROUP the consumer group this client was blocked on no longer exists"
