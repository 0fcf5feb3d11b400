"""The key-value engine in-process (no sockets): a state machine against a dict model,
expiry with the time passed in, write propagation, WATCH, maxmemory and eviction."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hld.core.kv.client import Block, Client
from hld.core.kv.engine import Engine
from hld.core.kv.evict import POLICIES
from hld.core.resp import NEED_DATA, RespParser
from hld.store import commands

commands.load_all()
T0 = 1_700_000_000.0  # seconds; any fixed wall-clock instant


def decode(reply: bytes | Block) -> Any:
    assert isinstance(reply, bytes)
    parser = RespParser()
    parser.feed(reply)
    value = parser.next_event()
    assert value is not NEED_DATA
    return value


class Harness:
    def __init__(self, seed: int = 1, **options: Any) -> None:
        self.engine = Engine(rng=random.Random(seed), **options)
        self.client = Client(self.engine, 1)
        self.now = T0
        self.engine.db.set_time(self.now)
        self.propagated: list[list[bytes]] = []
        self.engine.add_write_listener(self.propagated.append)

    def __call__(self, *args: str | bytes | int) -> Any:
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        return decode(self.engine.execute(self.client, argv))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.engine.db.set_time(self.now)


# -- state machine against a dict model --------------------------------------------

keys = st.sampled_from([b"a", b"b", b"c", b"\x00k"])
values = st.binary(max_size=8)


class KeyValueMachine(RuleBasedStateMachine):
    """Strings, counters, deletes and TTLs agree with a dict + deadline model."""

    @initialize()
    def setup(self) -> None:
        self.kv = Harness()
        self.model: dict[bytes, bytes] = {}
        self.deadline: dict[bytes, int] = {}  # Unix ms, the engine's resolution

    def _expire_model(self) -> None:
        now_ms = int(self.kv.now * 1000)
        for key, at in list(self.deadline.items()):
            if at <= now_ms:
                del self.deadline[key]
                self.model.pop(key, None)

    @rule(key=keys, value=values)
    def set(self, key: bytes, value: bytes) -> None:
        assert self.kv(b"SET", key, value).value == "OK"
        self.model[key] = value
        self.deadline.pop(key, None)

    @rule(key=keys, value=values, ttl_s=st.integers(1, 5))
    def set_ex(self, key: bytes, value: bytes, ttl_s: int) -> None:
        self.kv(b"SET", key, value, b"EX", ttl_s)
        self.model[key] = value
        self.deadline[key] = int(self.kv.now * 1000) + ttl_s * 1000

    @rule(key=keys)
    def get(self, key: bytes) -> None:
        self._expire_model()
        assert self.kv(b"GET", key) == self.model.get(key)

    @rule(key=keys)
    def delete(self, key: bytes) -> None:
        self._expire_model()
        assert self.kv(b"DEL", key) == (1 if key in self.model else 0)
        self.model.pop(key, None)
        self.deadline.pop(key, None)

    @rule(key=keys)
    def incr(self, key: bytes) -> None:
        self._expire_model()
        current = self.model.get(key, b"0")
        try:
            expected: Any = int(current) + 1
            assert str(int(current)).encode() == current
        except (ValueError, AssertionError):
            reply = self.kv(b"INCR", key)
            assert reply.message == "ERR value is not an integer or out of range"
            return
        assert self.kv(b"INCR", key) == expected
        self.model[key] = str(expected).encode()

    @rule(seconds=st.floats(0.1, 3.0))
    def wait(self, seconds: float) -> None:
        self.kv.advance(seconds)

    @rule()
    def active_expire(self) -> None:
        self.kv.engine.db.active_expire(100)
        self._expire_model()

    @invariant()
    def dbsize_counts_live_and_unswept_keys(self) -> None:
        self._expire_model()
        assert self.kv(b"EXISTS", b"a", b"b", b"c", b"\x00k") == len(self.model)


KeyValueMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30,
                                             deadline=None)
TestKeyValueMachine = KeyValueMachine.TestCase


# -- expiry --------------------------------------------------------------------------

def test_expired_keys_are_never_returned_and_are_propagated_as_del() -> None:
    kv = Harness()
    kv("SET", "k", "v", "PX", 100)
    kv.advance(0.099)
    assert kv("GET", "k") == b"v"
    kv.advance(0.002)
    assert kv("GET", "k") is None
    assert [b"DEL", b"k"] in kv.propagated
    assert kv.engine.db.expired_keys == 1


def test_active_expiry_removes_due_keys_without_access() -> None:
    kv = Harness()
    for i in range(50):
        kv("SET", f"k{i}", "v", "EX", 1 + i % 2)
    kv.advance(1.5)
    assert kv.engine.db.active_expire(1000) == 25
    assert len(kv.engine.db.data) == 25


# -- propagation ---------------------------------------------------------------------

def test_writes_are_propagated_with_deterministic_rewrites() -> None:
    kv = Harness()
    kv("SET", "a", "1", "EX", 10)
    kv("INCRBYFLOAT", "f", "1.5")
    kv("EXPIRE", "f", 100)
    kv("SADD", "s", "x")
    kv("SPOP", "s")
    kv("GET", "a")
    kv("SET", "b", "2")
    at_a = int(T0 * 1000) + 10_000
    assert kv.propagated == [
        [b"SET", b"a", b"1", b"PXAT", str(at_a).encode()],
        [b"SET", b"f", b"1.5", b"KEEPTTL"],
        [b"PEXPIREAT", b"f", str(int(T0 * 1000) + 100_000).encode()],
        [b"SADD", b"s", b"x"],
        [b"SREM", b"s", b"x"],
        [b"SET", b"b", b"2"],
    ]


def test_failed_or_no_op_writes_are_not_propagated() -> None:
    kv = Harness()
    kv("SET", "a", "x")
    kv.propagated.clear()
    kv("INCR", "a")
    kv("DEL", "missing")
    kv("SET", "a", "y", "NX")
    assert kv.propagated == []


def test_transaction_is_propagated_inside_multi_exec() -> None:
    kv = Harness()
    kv("MULTI")
    kv("SET", "a", "1")
    kv("INCR", "a")
    assert kv("EXEC") == [_ok(), 2]
    assert kv.propagated == [[b"MULTI"], [b"SET", b"a", b"1"], [b"INCR", b"a"], [b"EXEC"]]


def _ok() -> Any:
    from hld.core.resp import SimpleString
    return SimpleString("OK")


def test_watch_aborts_when_another_client_writes() -> None:
    kv = Harness()
    other = Client(kv.engine, 2)
    kv("SET", "w", "1")
    kv("WATCH", "w")
    kv.engine.execute(other, [b"SET", b"w", b"2"])
    kv("MULTI")
    kv("SET", "w", "3")
    from hld.core.resp.serializer import NULL_ARRAY_VALUE
    assert kv("EXEC") is NULL_ARRAY_VALUE
    assert kv("GET", "w") == b"2"


def test_blocking_pop_returns_block_then_pops_after_a_push() -> None:
    kv = Harness()
    reply = kv.engine.execute(kv.client, [b"BLPOP", b"q", b"1"])
    assert isinstance(reply, Block)
    assert reply.keys == (b"q",)
    kv.engine.db.blocking[b"q"] = 1
    kv("RPUSH", "q", "job")
    assert kv.engine.db.ready == [b"q"]
    assert kv("BLPOP", "q", "1") == [b"q", b"job"]
    assert kv.propagated[-1] == [b"LPOP", b"q"]


def test_requirepass_gates_commands_until_auth() -> None:
    kv = Harness(requirepass=b"secret")
    kv.client = Client(kv.engine, 9)
    assert kv("GET", "a").message == "NOAUTH Authentication required."
    assert kv("AUTH", "wrong").message.startswith("WRONGPASS")
    assert kv("AUTH", "secret").value == "OK"
    assert kv("GET", "a") is None


# -- memory and eviction -------------------------------------------------------------

MAXMEMORY = 2 * 1024 * 1024


def _fill(kv: Harness, n: int, *, ttl: bool = False) -> int:
    ooms = 0
    for i in range(n):
        args: list[Any] = ["SET", f"key:{i:08d}", "x" * 200]
        if ttl:
            args += ["EX", 1000 + i]
        reply = kv(*args)
        if not isinstance(reply, type(_ok())):
            ooms += 1
        if i % 7 == 0:
            kv("GET", f"key:{i // 2:08d}")
    return ooms


@pytest.mark.parametrize("policy", [p for p in POLICIES if p != "noeviction"])
def test_each_policy_keeps_used_memory_bounded(policy: str) -> None:
    kv = Harness(maxmemory_bytes=MAXMEMORY, maxmemory_policy=policy)
    ooms = _fill(kv, 8000, ttl=policy.startswith("volatile"))
    assert ooms == 0
    assert kv.engine.used_memory <= MAXMEMORY
    assert kv.engine.db.evicted_keys > 0
    assert len(kv.engine.db.data) < 8000
    assert kv.propagated.count([b"DEL", kv.propagated[-1][1]]) <= 1


def test_noeviction_refuses_writes_with_oom_but_serves_reads() -> None:
    kv = Harness(maxmemory_bytes=MAXMEMORY, maxmemory_policy="noeviction")
    ooms = _fill(kv, 8000)
    assert ooms > 0
    reply = kv("SET", "one-more", "v")
    assert reply.message == "OOM command not allowed when used memory > 'maxmemory'."
    assert kv("GET", "key:00000000") == b"x" * 200
    assert kv("DEL", "key:00000000") == 1


def test_volatile_policy_without_volatile_keys_answers_oom() -> None:
    kv = Harness(maxmemory_bytes=MAXMEMORY, maxmemory_policy="volatile-lru")
    assert _fill(kv, 8000) > 0


def test_used_memory_returns_to_baseline_after_deletes() -> None:
    kv = Harness()
    base = kv.engine.used_memory
    kv("SET", "s", "v" * 100)
    kv("HSET", "h", "f", "v", "g", "w")
    kv("RPUSH", "l", "a", "b")
    kv("SADD", "set", "a")
    kv("ZADD", "z", 1, "a")
    kv("EXPIRE", "s", 100)
    assert kv.engine.used_memory > base
    kv("DEL", "s", "h", "l", "set", "z")
    assert kv.engine.used_memory == base
