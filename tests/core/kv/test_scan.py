"""SCAN, HSCAN, SSCAN and ZSCAN keep Redis' guarantee while the collection changes:
every element present from the start to the end of a full iteration is returned."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.kv.client import Block, Client
from hld.core.kv.engine import Engine
from hld.core.kv.scan import CURSOR_MASK, INDEX_IDLE_MS, next_cursor
from hld.core.resp import NEED_DATA, RespParser
from hld.core.resp.serializer import ErrorReply
from hld.store import commands

commands.load_all()
T0 = 1_700_000_000.0  # seconds; any fixed wall-clock instant
UNIVERSE = [b"k%03d" % i for i in range(400)]
CALLS_MAX = 5_000  # a full iteration must end well before this many calls


class Harness:
    def __init__(self) -> None:
        self.engine = Engine(rng=random.Random(7))
        self.client = Client(self.engine, 1)
        self.engine.db.set_time(T0)

    def __call__(self, *args: str | bytes | int) -> Any:
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        reply: bytes | Block = self.engine.execute(self.client, argv)
        assert isinstance(reply, bytes)
        parser = RespParser()
        parser.feed(reply)
        value = parser.next_event()
        assert value is not NEED_DATA
        return value


def test_reverse_binary_cursor_visits_every_bucket_once_then_returns_zero() -> None:
    for bits in (2, 3, 6):
        mask = (1 << bits) - 1
        seen, cursor = [], 0
        while True:
            seen.append(cursor)
            cursor = next_cursor(cursor, mask)
            if cursor == 0:
                break
        assert sorted(seen) == list(range(mask + 1))


def test_cursor_beyond_64_bits_is_an_invalid_cursor() -> None:
    kv = Harness()
    assert ErrorReply("ERR invalid cursor") == kv("SCAN", CURSOR_MASK + 1)
    assert ErrorReply("ERR invalid cursor") == kv("SSCAN", "s", CURSOR_MASK + 1)


# One mutation between SCAN calls: add or delete a key, or a burst of either (so the
# table grows and shrinks mid-iteration).
mutations = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(UNIVERSE)),
    st.tuples(st.just("del"), st.sampled_from(UNIVERSE)),
    st.tuples(st.just("add_many"), st.integers(0, len(UNIVERSE) - 50)),
    st.tuples(st.just("del_many"), st.integers(0, len(UNIVERSE) - 50)),
)


def _apply(kind: str, arg: Any, add: Any, delete: Any) -> set[bytes]:
    """Apply one mutation; returns the keys it deleted."""
    if kind == "add":
        add([arg])
        return set()
    if kind == "del":
        delete([arg])
        return {arg}
    if kind == "add_many":
        add(UNIVERSE[arg: arg + 50])
        return set()
    gone = set(UNIVERSE[arg: arg + 50])
    delete(sorted(gone))
    return gone


@settings(max_examples=60, deadline=None)
@given(initial=st.integers(0, len(UNIVERSE)), count=st.integers(1, 40), data=st.data())
def test_scan_returns_every_key_present_throughout_despite_adds_and_deletes(
        initial: int, count: int, data: st.DataObject) -> None:
    kv = Harness()
    for key in UNIVERSE[:initial]:
        kv("SET", key, b"v")
    present_at_start = set(UNIVERSE[:initial])
    deleted: set[bytes] = set()
    returned: set[bytes] = set()
    cursor, calls = b"0", 0
    while True:
        cursor, batch = kv("SCAN", cursor, "COUNT", count)
        returned.update(batch)
        calls += 1
        assert calls < CALLS_MAX
        if cursor == b"0":
            break
        for kind, arg in data.draw(st.lists(mutations, max_size=3)):
            deleted |= _apply(kind, arg,
                              lambda ks: [kv("SET", k, b"v") for k in ks],
                              lambda ks: ks and kv("DEL", *ks))
    assert set() == (present_at_start - deleted) - returned
    # Nothing that never existed is returned, and no expired or deleted key leaks in.
    assert returned <= set(UNIVERSE)


def test_scan_without_changes_returns_each_key_exactly_once() -> None:
    kv = Harness()
    for key in UNIVERSE:
        kv("SET", key, b"v")
    out: list[bytes] = []
    cursor = b"0"
    while True:
        cursor, batch = kv("SCAN", cursor, "COUNT", 10)
        out += batch
        if cursor == b"0":
            break
    assert sorted(UNIVERSE) == sorted(out)


def _container_setup(kind: str) -> tuple[str, Any, Any, Any]:
    """(scan command, add(members), delete(members), members-of-reply) for a type."""
    if kind == "hash":
        return ("HSCAN",
                lambda kv, ms: kv("HSET", "c", *[x for m in ms for x in (m, b"v")]),
                lambda kv, ms: kv("HDEL", "c", *ms),
                lambda flat: flat[0::2])
    if kind == "set":
        return ("SSCAN", lambda kv, ms: kv("SADD", "c", *ms),
                lambda kv, ms: kv("SREM", "c", *ms), lambda flat: flat)
    return ("ZSCAN",
            lambda kv, ms: kv("ZADD", "c", *[x for m in ms for x in (b"1", m)]),
            lambda kv, ms: kv("ZREM", "c", *ms),
            lambda flat: flat[0::2])


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["hash", "set", "zset"]), initial=st.integers(1, len(UNIVERSE)),
       count=st.integers(1, 40), data=st.data())
def test_container_scans_return_every_member_present_throughout(
        kind: str, initial: int, count: int, data: st.DataObject) -> None:
    name, add, delete, members_of = _container_setup(kind)
    kv = Harness()
    # The sentinel member keeps the container alive whatever is deleted.
    add(kv, [b"sentinel", *UNIVERSE[:initial]])
    present_at_start = {b"sentinel", *UNIVERSE[:initial]}
    deleted: set[bytes] = set()
    returned: set[bytes] = set()
    cursor, calls = b"0", 0
    while True:
        cursor, flat = kv(name, "c", cursor, "COUNT", count)
        returned.update(members_of(flat))
        calls += 1
        assert calls < CALLS_MAX
        if cursor == b"0":
            break
        for op, arg in data.draw(st.lists(mutations, max_size=3)):
            deleted |= _apply(op, arg, lambda ms: add(kv, ms),
                              lambda ms: ms and delete(kv, ms))
    assert set() == (present_at_start - deleted) - returned


def test_an_iteration_survives_the_idle_index_being_dropped_and_rebuilt() -> None:
    kv = Harness()
    db = kv.engine.db
    for key in UNIVERSE:
        kv("SET", key, b"v")
    cursor, out = kv("SCAN", 0, "COUNT", 20)
    returned = set(out)
    # A client pausing longer than INDEX_IDLE_MS: the periodic expiry cycle frees the index.
    db.set_time(T0 + INDEX_IDLE_MS / 1000 + 1)
    db.active_expire(10)
    assert db._scan_index is None
    while cursor != b"0":
        cursor, out = kv("SCAN", cursor, "COUNT", 20)
        returned.update(out)
    assert set(UNIVERSE) == returned
