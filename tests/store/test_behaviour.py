"""One behaviour suite, two servers: every test runs against hld-store and redis-server.

Black-box over the real protocol with redis-py: the replies, including error wording,
must be the same wherever hld-store claims compatibility with Redis.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import redis

from tests.store.conftest import Target

pytestmark = pytest.mark.blackbox


def err(fn: object, *args: object) -> str:
    with pytest.raises(redis.ResponseError) as info:
        fn(*args)  # type: ignore[operator]
    return str(info.value)


# -- strings -------------------------------------------------------------------------

def test_set_get_and_options(r: redis.Redis, k: str) -> None:
    assert r.set(k + "a", "1") is True
    assert r.get(k + "a") == b"1"
    assert r.set(k + "a", "2", nx=True) is None
    assert r.set(k + "b", "2", xx=True) is None
    assert r.set(k + "a", "3", xx=True, get=True) == b"1"
    assert r.set(k + "a", "4", ex=100) is True
    assert 99 <= r.ttl(k + "a") <= 100
    assert r.set(k + "a", "5", keepttl=True) is True
    assert r.ttl(k + "a") > 0
    assert r.set(k + "a", "6") is True
    assert r.ttl(k + "a") == -1
    assert r.set(k + "c", "x", px=50) is True
    time.sleep(0.12)
    assert r.get(k + "c") is None


def test_binary_keys_and_values_with_nul_bytes(r: redis.Redis, k: str) -> None:
    key = k.encode() + b"\x00bin\r\n\xff"
    value = bytes(range(256)) * 4
    r.set(key, value)
    assert r.get(key) == value
    assert r.strlen(key) == 1024


def test_counters(r: redis.Redis, k: str) -> None:
    assert r.incr(k + "n") == 1
    assert r.incrby(k + "n", 10) == 11
    assert r.decr(k + "n") == 10
    assert r.decrby(k + "n", 20) == -10
    assert r.incrbyfloat(k + "f", 10.5) == 10.5
    assert r.incrbyfloat(k + "f", 0.1) == pytest.approx(10.6)
    assert r.get(k + "f") == b"10.6"
    r.set(k + "s", "abc")
    assert err(r.incr, k + "s") == "value is not an integer or out of range"
    r.set(k + "big", str(2**63 - 1))
    assert err(r.incr, k + "big") == "increment or decrement would overflow"


def test_string_ranges_append_getdel_getex(r: redis.Redis, k: str) -> None:
    assert r.append(k + "s", "Hello") == 5
    assert r.append(k + "s", " World") == 11
    assert r.getrange(k + "s", 0, 4) == b"Hello"
    assert r.getrange(k + "s", -5, -1) == b"World"
    assert r.setrange(k + "s", 6, "Redis") == 11
    assert r.get(k + "s") == b"Hello Redis"
    assert r.setrange(k + "z", 3, "x") == 4
    assert r.get(k + "z") == b"\x00\x00\x00x"
    assert r.getex(k + "s", ex=50) == b"Hello Redis"
    assert r.ttl(k + "s") > 0
    assert r.getex(k + "s", persist=True) == b"Hello Redis"
    assert r.ttl(k + "s") == -1
    assert r.getdel(k + "s") == b"Hello Redis"
    assert r.exists(k + "s") == 0
    assert r.setnx(k + "n", "1") is True
    assert r.setnx(k + "n", "2") is False
    assert r.execute_command("SETEX", k + "e", 100, "v") is True
    assert r.execute_command("PSETEX", k + "p", 100000, "v") is True
    assert r.pttl(k + "p") > 90000


def test_mset_mget_msetnx(r: redis.Redis, k: str) -> None:
    assert r.mset({k + "a": "1", k + "b": "2"}) is True
    assert r.mget(k + "a", k + "b", k + "missing") == [b"1", b"2", None]
    assert r.msetnx({k + "a": "x", k + "c": "3"}) is False
    assert r.msetnx({k + "c": "3", k + "d": "4"}) is True


def test_invalid_expire_times_are_refused(r: redis.Redis, k: str) -> None:
    assert err(r.execute_command, "SET", k + "a", "v", "EX", "-1") == \
        "invalid expire time in 'set' command"
    assert err(r.execute_command, "SET", k + "a", "v", "EX", "0") == \
        "invalid expire time in 'set' command"
    assert err(r.execute_command, "SET", k + "a", "v", "PX", str(2**63 - 1)) == \
        "invalid expire time in 'set' command"
    assert err(r.execute_command, "SETEX", k + "a", "-5", "v") == \
        "invalid expire time in 'setex' command"
    assert err(r.execute_command, "SET", k + "a", "v", "EX", "abc") == \
        "value is not an integer or out of range"
    assert err(r.execute_command, "SET", k + "a", "v", "NX", "XX") == "syntax error"
    assert r.exists(k + "a") == 0


# -- keys ----------------------------------------------------------------------------

def test_expire_family_with_flags(r: redis.Redis, k: str) -> None:
    r.set(k + "a", "1")
    assert r.expire(k + "a", 100, nx=True) is True
    assert r.expire(k + "a", 200, nx=True) is False
    assert r.expire(k + "a", 50, gt=True) is False
    assert r.expire(k + "a", 300, gt=True) is True
    assert r.expire(k + "a", 10, lt=True) is True
    assert r.ttl(k + "a") <= 10
    assert r.persist(k + "a") is True
    assert r.ttl(k + "a") == -1
    assert r.expire(k + "a", 10, xx=True) is False
    assert r.pexpire(k + "a", 100000) is True
    assert r.expiretime(k + "a") > time.time()
    assert r.pexpireat(k + "a", int(time.time() * 1000) + 100000) is True
    assert r.expireat(k + "a", int(time.time()) - 1) is True
    assert r.exists(k + "a") == 0
    assert r.ttl(k + "missing") == -2
    assert r.expire(k + "missing", 10) is False


def test_del_exists_type_rename_touch(r: redis.Redis, k: str) -> None:
    r.set(k + "s", "v")
    r.rpush(k + "l", "a")
    r.hset(k + "h", "f", "v")
    r.sadd(k + "set", "m")
    r.zadd(k + "z", {"m": 1})
    assert [r.type(k + x) for x in ("s", "l", "h", "set", "z", "none")] == \
        [b"string", b"list", b"hash", b"set", b"zset", b"none"]
    assert r.exists(k + "s", k + "s", k + "none") == 2
    assert r.touch(k + "s", k + "none") == 1
    assert r.rename(k + "s", k + "s2") is True
    assert r.get(k + "s2") == b"v"
    assert err(r.rename, k + "none", k + "x") == "no such key"
    assert r.renamenx(k + "s2", k + "l") is False
    assert r.delete(k + "s2", k + "l", k + "none") == 2
    assert r.unlink(k + "h") == 1


def test_keys_and_scan_with_match_count_type(r: redis.Redis, k: str) -> None:
    for i in range(30):
        r.set(f"{k}s{i}", i)
    r.rpush(k + "list", "x")
    assert sorted(r.keys(k + "s1*")) == sorted(
        [f"{k}s1".encode()] + [f"{k}s1{i}".encode() for i in range(10)])
    seen = set(r.scan_iter(match=k + "*", count=7))
    assert len(seen) == 31
    typed = set(r.scan_iter(match=k + "*", _type="list"))
    assert typed == {(k + "list").encode()}


def test_wrongtype_error(r: redis.Redis, k: str) -> None:
    r.rpush(k + "l", "a")
    expected = "WRONGTYPE Operation against a key holding the wrong kind of value"
    assert err(r.get, k + "l") == expected
    assert err(r.hget, k + "l", "f") == expected
    assert err(r.sadd, k + "l", "m") == expected
    assert err(r.zadd, k + "l", {"m": 1}) == expected
    assert err(r.incr, k + "l") == expected


def test_unknown_command_and_arity_errors(r: redis.Redis) -> None:
    assert err(r.execute_command, "NOSUCHCMD", "a", "b") == \
        "unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' "
    assert err(r.execute_command, "GET") == "wrong number of arguments for 'get' command"
    assert err(r.execute_command, "SET", "x") == "wrong number of arguments for 'set' command"


# -- hashes --------------------------------------------------------------------------

def test_hashes(r: redis.Redis, k: str) -> None:
    h = k + "h"
    assert r.hset(h, mapping={"a": "1", "b": "2"}) == 2
    assert r.hset(h, "a", "3") == 0
    assert r.hget(h, "a") == b"3"
    assert r.hmget(h, "a", "b", "c") == [b"3", b"2", None]
    assert r.hgetall(h) == {b"a": b"3", b"b": b"2"}
    assert r.hlen(h) == 2
    assert r.hexists(h, "a") is True
    assert sorted(r.hkeys(h)) == [b"a", b"b"]
    assert sorted(r.hvals(h)) == [b"2", b"3"]
    assert r.hincrby(h, "n", 5) == 5
    assert r.hincrbyfloat(h, "f", 1.5) == 1.5
    assert r.hsetnx(h, "a", "x") == 0
    assert r.hstrlen(h, "a") == 1
    assert r.hdel(h, "a", "b", "zz") == 2
    assert r.hdel(h, "n", "f") == 2
    assert r.exists(h) == 0


# -- lists ---------------------------------------------------------------------------

def test_lists(r: redis.Redis, k: str) -> None:
    q = k + "q"
    assert r.rpush(q, "a", "b", "c") == 3
    assert r.lpush(q, "z") == 4
    assert r.lrange(q, 0, -1) == [b"z", b"a", b"b", b"c"]
    assert r.lrange(q, 1, 2) == [b"a", b"b"]
    assert r.lrange(q, -2, 100) == [b"b", b"c"]
    assert r.llen(q) == 4
    assert r.lindex(q, -1) == b"c"
    assert r.lset(q, 0, "y") is True
    assert r.linsert(q, "BEFORE", "a", "x") == 5
    assert r.lpos(q, "a") == 2
    assert r.lrem(q, 0, "x") == 1
    assert r.ltrim(q, 1, -1) is True
    assert r.lrange(q, 0, -1) == [b"a", b"b", b"c"]
    assert r.lpop(q) == b"a"
    assert r.rpop(q, 2) == [b"c", b"b"]
    assert r.exists(q) == 0
    assert r.lpop(q) is None
    assert r.lpushx(q, "a") == 0
    r.rpush(q, "1", "2")
    assert r.lmove(q, k + "d", "LEFT", "RIGHT") == b"1"
    assert r.rpoplpush(q, k + "d") == b"2"
    assert r.lrange(k + "d", 0, -1) == [b"2", b"1"]


def test_blpop_waits_for_a_push(target: Target, r: redis.Redis, k: str) -> None:
    other = redis.Redis(port=target.port)

    def push_later() -> None:
        time.sleep(0.2)
        other.rpush(k + "q", "job")

    thread = threading.Thread(target=push_later)
    thread.start()
    started = time.monotonic()
    assert r.blpop([k + "q"], timeout=5) == ((k + "q").encode(), b"job")
    thread.join()
    other.close()
    assert 0.1 < time.monotonic() - started < 4


def test_blocking_pops_time_out_with_nil(r: redis.Redis, k: str) -> None:
    assert r.blpop([k + "none"], timeout=0.1) is None
    assert r.brpop([k + "none"], timeout=0.1) is None
    assert r.blmove(k + "none", k + "d", 0.1, "LEFT", "RIGHT") is None


def test_blocking_pop_serves_data_already_there(r: redis.Redis, k: str) -> None:
    r.rpush(k + "b", "x")
    assert r.brpop([k + "a", k + "b"], timeout=1) == ((k + "b").encode(), b"x")
    assert err(r.execute_command, "BLPOP", k + "a", "-1") == "timeout is negative"
    assert err(r.execute_command, "BLPOP", k + "a", "abc") == \
        "timeout is not a float or out of range"


def test_blmove_wakes_up(target: Target, r: redis.Redis, k: str) -> None:
    other = redis.Redis(port=target.port)
    timer = threading.Timer(0.2, lambda: other.lpush(k + "src", "v"))
    timer.start()
    assert r.blmove(k + "src", k + "dst", 5, "RIGHT", "LEFT") == b"v"
    timer.join()
    other.close()
    assert r.lrange(k + "dst", 0, -1) == [b"v"]


# -- sets ----------------------------------------------------------------------------

def test_sets(r: redis.Redis, k: str) -> None:
    a, b = k + "a", k + "b"
    assert r.sadd(a, "1", "2", "3") == 3
    assert r.sadd(a, "3", "4") == 1
    assert r.sadd(b, "3", "4", "5") == 3
    assert r.smembers(a) == {b"1", b"2", b"3", b"4"}
    assert r.sismember(a, "1") == 1
    assert r.smismember(a, ["1", "9"]) == [1, 0]
    assert r.scard(a) == 4
    assert r.sinter(a, b) == {b"3", b"4"}
    assert r.sunion(a, b) == {b"1", b"2", b"3", b"4", b"5"}
    assert r.sdiff(a, b) == {b"1", b"2"}
    assert r.sinterstore(k + "i", [a, b]) == 2
    assert r.sunionstore(k + "u", [a, b]) == 5
    assert r.sdiffstore(k + "d", [a, b]) == 2
    assert r.sintercard(2, [a, b]) == 2
    assert r.smove(a, b, "1") is True
    assert r.srem(a, "2", "9") == 1
    popped = r.spop(b)
    assert popped in {b"1", b"3", b"4", b"5"}
    assert r.scard(b) == 3
    assert r.srandmember(b) in {b"1", b"3", b"4", b"5"}
    assert len(r.srandmember(b, -5)) == 5


# -- sorted sets ---------------------------------------------------------------------

def test_sorted_set_leaderboard(r: redis.Redis, k: str) -> None:
    z = k + "z"
    assert r.zadd(z, {"alice": 10, "bob": 20, "carol": 15}) == 3
    assert r.zadd(z, {"alice": 30}, ch=True) == 1
    assert r.zadd(z, {"alice": 5}, gt=True) == 0
    assert r.zadd(z, {"alice": 5}, lt=True, ch=True) == 1
    assert r.zadd(z, {"dave": 1}, xx=True) == 0
    assert r.zadd(z, {"bob": 100}, nx=True) == 0
    assert r.zadd(z, {"bob": 2}, incr=True) == 22.0
    assert r.zincrby(z, 3, "carol") == 18.0
    assert r.zrange(z, 0, -1, withscores=True) == [(b"alice", 5.0), (b"carol", 18.0),
                                                   (b"bob", 22.0)]
    assert r.zrange(z, 0, 0, desc=True) == [b"bob"]
    assert r.zrangebyscore(z, "(5", "+inf") == [b"carol", b"bob"]
    assert r.zrevrangebyscore(z, 20, 0) == [b"carol", b"alice"]
    assert r.zrange(z, "-inf", "+inf", byscore=True, offset=1, num=1) == [b"carol"]
    assert r.zrank(z, "carol") == 1
    assert r.zrevrank(z, "carol") == 1
    assert r.zscore(z, "bob") == 22.0
    assert r.zmscore(z, ["bob", "nobody"]) == [22.0, None]
    assert r.zcount(z, 5, 18) == 2
    assert r.zcard(z) == 3
    assert r.zpopmin(z) == [(b"alice", 5.0)]
    assert r.zpopmax(z) == [(b"bob", 22.0)]
    assert r.zrem(z, "carol", "nobody") == 1
    assert r.exists(z) == 0


def test_sorted_set_lex_and_store(r: redis.Redis, k: str) -> None:
    z = k + "lex"
    r.zadd(z, {"a": 0, "b": 0, "c": 0, "d": 0})
    assert r.zrangebylex(z, "[b", "(d") == [b"b", b"c"]
    assert r.zrange(z, "-", "+", bylex=True, desc=False) == [b"a", b"b", b"c", b"d"]
    assert r.zlexcount(z, "-", "[b") == 2
    r.zadd(k + "x", {"a": 1, "b": 2})
    r.zadd(k + "y", {"b": 3, "c": 4})
    assert r.zunionstore(k + "u", [k + "x", k + "y"]) == 3
    assert r.zrange(k + "u", 0, -1, withscores=True) == [(b"a", 1.0), (b"c", 4.0),
                                                         (b"b", 5.0)]
    assert r.zinterstore(k + "i", {k + "x": 2, k + "y": 1}, aggregate="MAX") == 1
    assert r.zscore(k + "i", "b") == 4.0
    assert r.zremrangebyscore(k + "u", 0, 1) == 1
    assert r.zremrangebyrank(k + "u", 0, 0) == 1


def test_score_formatting_matches(r: redis.Redis, k: str) -> None:
    r.zadd(k + "z", {"a": 0.1, "b": 1e20, "c": -3})
    raw = r.zrange(k + "z", 0, -1, withscores=True, score_cast_func=bytes)
    assert raw == [(b"c", b"-3"), (b"a", b"0.10000000000000001"), (b"b", b"1e+20")]


# -- HyperLogLog ---------------------------------------------------------------------

def test_hyperloglog_counts_approximately(r: redis.Redis, k: str) -> None:
    assert r.pfadd(k + "h", *[f"e{i}" for i in range(1000)]) == 1
    assert r.pfadd(k + "h", "e1") == 0
    assert 970 <= r.pfcount(k + "h") <= 1030
    r.pfadd(k + "g", *[f"e{i}" for i in range(500, 1500)])
    assert 1450 <= r.pfcount(k + "h", k + "g") <= 1550
    assert r.pfmerge(k + "m", k + "h", k + "g") is True
    assert 1450 <= r.pfcount(k + "m") <= 1550
    assert r.type(k + "m") == b"string"


# -- pipelining, transactions --------------------------------------------------------

def test_pipeline_of_many_commands(r: redis.Redis, k: str) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.set(f"{k}{i}", i)
    for i in range(200):
        pipe.get(f"{k}{i}")
    replies = pipe.execute()
    assert replies[:200] == [True] * 200
    assert replies[200:] == [str(i).encode() for i in range(200)]


def test_multi_exec_and_discard(r: redis.Redis, k: str) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.set(k + "a", 1).incr(k + "a").get(k + "a")
    assert pipe.execute() == [True, 2, b"2"]
    conn = r.connection_pool.get_connection()
    try:
        for command, reply in (("MULTI", b"OK"), ("SET", b"QUEUED"), ("DISCARD", b"OK")):
            conn.send_command(command, *([k + "b", "1"] if command == "SET" else []))
            assert conn.read_response() == reply
    finally:
        r.connection_pool.release(conn)
    assert r.exists(k + "b") == 0
    assert err(r.execute_command, "EXEC") == "EXEC without MULTI"


def test_watch_aborts_exec_when_the_key_changed(target: Target, r: redis.Redis,
                                                k: str) -> None:
    r.set(k + "w", "1")
    other = redis.Redis(port=target.port)
    with r.pipeline() as pipe:
        pipe.watch(k + "w")
        other.set(k + "w", "2")
        pipe.multi()
        pipe.set(k + "w", "3")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    other.close()
    assert r.get(k + "w") == b"2"
    with r.pipeline() as pipe:
        pipe.watch(k + "w")
        pipe.multi()
        pipe.set(k + "w", "4")
        assert pipe.execute() == [True]
    assert r.get(k + "w") == b"4"


def test_exec_after_queueing_error_aborts(r: redis.Redis, k: str) -> None:
    r.execute_command("MULTI")
    r.execute_command("SET", k + "a", "1")
    with pytest.raises(redis.ResponseError):
        r.execute_command("GET")
    assert err(r.execute_command, "EXEC").startswith("Transaction discarded")
    assert r.exists(k + "a") == 0


# -- pub/sub -------------------------------------------------------------------------

def _next_message(p: redis.client.PubSub) -> dict[str, object]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = p.get_message(timeout=0.1, ignore_subscribe_messages=True)
        if message is not None:
            return message  # type: ignore[no-any-return]
    raise AssertionError("no message")


def test_publish_subscribe_and_patterns(target: Target, r: redis.Redis, k: str) -> None:
    sub = redis.Redis(port=target.port)
    p = sub.pubsub()
    p.subscribe(k + "news")
    p.psubscribe(k + "ev.*")
    time.sleep(0.05)
    assert r.publish(k + "news", "hello") == 1
    assert _next_message(p)["data"] == b"hello"
    assert r.publish(k + "ev.click", "x") == 1
    message = _next_message(p)
    assert (message["type"], message["pattern"], message["channel"], message["data"]) == \
        ("pmessage", (k + "ev.*").encode(), (k + "ev.click").encode(), b"x")
    assert (k + "news").encode() in r.pubsub_channels(k + "*")
    assert r.pubsub_numsub(k + "news") == [((k + "news").encode(), 1)]
    p.unsubscribe()
    p.punsubscribe()
    time.sleep(0.05)
    assert r.publish(k + "news", "nobody") == 0
    p.close()
    sub.close()


def test_subscribed_resp2_client_may_only_subscribe(target: Target, k: str) -> None:
    conn = redis.Connection(port=target.port, protocol=2)
    conn.send_command("SUBSCRIBE", k + "c")
    assert conn.read_response() == [b"subscribe", (k + "c").encode(), 1]
    conn.send_command("GET", "x")
    with pytest.raises(redis.ResponseError, match=r"only .* allowed in this context"):
        conn.read_response()
    conn.send_command("PING")
    assert conn.read_response() == [b"pong", b""]
    conn.disconnect()


# -- RESP3 ---------------------------------------------------------------------------

def test_resp3_replies(target: Target, k: str) -> None:
    r3 = redis.Redis(port=target.port, protocol=3)
    r3.hset(k + "h", mapping={"a": "1"})
    assert r3.hgetall(k + "h") == {b"a": b"1"}
    r3.sadd(k + "s", "m")
    assert r3.smembers(k + "s") == {b"m"}
    r3.zadd(k + "z", {"m": 1.5})
    assert r3.zscore(k + "z", "m") == 1.5
    assert r3.zrange(k + "z", 0, -1, withscores=True) == [[b"m", 1.5]]
    assert r3.get(k + "missing") is None
    r3.delete(k + "h", k + "s", k + "z")
    r3.close()


def test_resp3_pubsub_uses_push(target: Target, r: redis.Redis, k: str) -> None:
    r3 = redis.Redis(port=target.port, protocol=3)
    p = r3.pubsub()
    p.subscribe(k + "c")
    time.sleep(0.05)
    r.publish(k + "c", "m")
    assert _next_message(p)["data"] == b"m"
    p.close()
    r3.close()


def test_resp2_replies(target: Target, k: str) -> None:
    """redis-py defaults to RESP3 when the server speaks it; check RESP2 explicitly."""
    r2 = redis.Redis(port=target.port, protocol=2)
    r2.hset(k + "h", mapping={"a": "1"})
    assert r2.hgetall(k + "h") == {b"a": b"1"}
    r2.zadd(k + "z", {"m": 1.5})
    assert r2.zrange(k + "z", 0, -1, withscores=True) == [(b"m", 1.5)]
    assert r2.zpopmin(k + "z") == [(b"m", 1.5)]
    assert r2.blpop([k + "none"], timeout=0.1) is None
    assert r2.smembers(k + "none") == set()
    assert r2.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    r2.delete(k + "h")
    r2.close()


def test_hello_switches_protocol(target: Target) -> None:
    conn = redis.Connection(port=target.port)
    conn.send_command("HELLO", "3")
    reply = conn.read_response()
    assert reply[b"proto"] == 3  # type: ignore[index]
    conn.send_command("HELLO", "4")
    with pytest.raises(redis.ResponseError, match="NOPROTO"):
        conn.read_response()
    conn.disconnect()


# -- server --------------------------------------------------------------------------

def test_server_commands(r: redis.Redis) -> None:
    assert r.ping() is True
    assert r.echo("hi") == b"hi"
    seconds, micros = r.time()
    assert abs(seconds - time.time()) < 5
    assert 0 <= micros < 10**6
    assert r.execute_command("SELECT", "0") is True
    info = r.info()
    for field in ("redis_version", "connected_clients", "used_memory", "keyspace_hits",
                  "keyspace_misses", "evicted_keys", "expired_keys"):
        assert field in info
    assert r.info("memory")["used_memory"] > 0
    assert r.command_count() > 100
    assert r.client_setname("me") is True
    assert r.client_getname() == "me"
    assert isinstance(r.client_id(), int)
    assert any(c["name"] == "me" for c in r.client_list())
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


def test_client_kill_closes_another_connection(target: Target, r: redis.Redis) -> None:
    victim = socket.create_connection(("127.0.0.1", target.port), timeout=5)
    victim.sendall(b"CLIENT ID\r\n")
    victim_id = int(victim.recv(100)[1:-2])
    assert r.client_kill_filter(_id=victim_id) == 1
    assert victim.recv(100) == b""  # closed by the server
    victim.close()


def test_asyncio_client(target: Target, k: str) -> None:
    import asyncio

    import redis.asyncio as aredis

    async def scenario() -> list[object]:
        client = aredis.Redis(port=target.port)
        try:
            await client.set(k + "a", "1")
            results = await asyncio.gather(client.incr(k + "a"), client.get(k + "a"))
            await client.delete(k + "a")
            return list(results)
        finally:
            await client.aclose()

    assert asyncio.run(scenario()) in ([2, b"2"], [2, b"1"])
