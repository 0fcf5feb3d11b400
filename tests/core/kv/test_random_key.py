"""RANDOMKEY's keyspace side (``Keyspace.random_key``): only live keys, expired ones removed
on the way, bounded on replicas, near-uniform, and the key list rebuilt only after O(n)
writes (O(1) amortized), with the time and the rng passed in."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hld.core.kv import keyspace as keyspace_mod
from hld.core.kv.keyspace import RANDOM_EXPIRED_DRAWS_MAX, Keyspace
from hld.core.kv.sample import SAMPLE_IDLE_MS, KeySample

T0 = 1_700_000_000.0
T0_MS = int(T0 * 1000)


def _db(*keys: bytes) -> Keyspace:
    db = Keyspace()
    db.set_time(T0)
    for key in keys:
        db.set(key, b"v")
    return db


def test_an_empty_keyspace_has_no_random_key() -> None:
    assert _db().random_key(random.Random(1)) is None


def test_every_key_is_drawn_about_equally_often() -> None:
    keys = [b"k%d" % i for i in range(20)]
    db = _db(*keys)
    rng = random.Random(7)
    counts = Counter(db.random_key(rng) for _ in range(4000))
    assert set(counts) == set(keys)
    assert max(counts.values()) < 2 * min(counts.values())  # expected 200 each


def test_deleted_keys_are_never_drawn() -> None:
    db = _db(*(b"k%d" % i for i in range(100)))
    rng = random.Random(3)
    db.random_key(rng)  # builds the key list
    for i in range(1, 100):
        db.delete(b"k%d" % i)
    assert {db.random_key(rng) for _ in range(50)} == {b"k0"}


def test_keys_created_after_the_list_was_built_are_drawn() -> None:
    db = _db(b"old")
    rng = random.Random(5)
    db.random_key(rng)
    db.set(b"new", b"v")
    assert {db.random_key(rng) for _ in range(100)} == {b"old", b"new"}


def test_expired_keys_are_removed_on_the_way_and_deleted_downstream() -> None:
    db = _db(b"live", *(b"e%d" % i for i in range(50)))
    propagated: list[list[bytes]] = []
    db.listeners.append(propagated.append)
    for i in range(50):
        db.set_expire(b"e%d" % i, T0_MS + 10)
    db.set_time(T0 + 1)
    rng = random.Random(11)
    assert db.random_key(rng) == b"live"
    drawn_expired = [argv[1] for argv in propagated]
    assert all(argv[0] == b"DEL" for argv in propagated)
    assert all(key not in db.data for key in drawn_expired)
    assert len(db) == 51 - len(drawn_expired)


def test_only_expired_keys_means_no_key_and_an_empty_keyspace() -> None:
    db = _db(b"a", b"b")
    db.set_expire(b"a", T0_MS + 1)
    db.set_expire(b"b", T0_MS + 1)
    db.set_time(T0 + 1)
    assert db.random_key(random.Random(1)) is None
    assert len(db) == 0


def test_a_replica_with_only_expired_keys_answers_after_bounded_draws() -> None:
    db = _db(b"a", b"b")
    db.expire_enabled = False  # a replica: its primary sends DEL
    db.set_expire(b"a", T0_MS + 1)
    db.set_expire(b"b", T0_MS + 1)
    db.set_time(T0 + 1)

    class CountingRng(random.Random):
        draws = 0

        def randrange(self, *args: int) -> int:  # type: ignore[override]
            self.draws += 1
            return super().randrange(*args)

    rng = CountingRng(1)
    assert db.random_key(rng) in (b"a", b"b")  # as Redis: a possibly expired name
    assert rng.draws == RANDOM_EXPIRED_DRAWS_MAX
    assert len(db) == 2


def test_the_key_list_is_rebuilt_only_after_many_writes(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Interleaving RANDOMKEY with writes: builds stay O(writes / keys), not O(calls)."""
    builds: list[int] = []

    class CountingSample(KeySample):
        def __init__(self, keys: object) -> None:
            super().__init__(keys)  # type: ignore[arg-type]
            builds.append(len(self.keys))

    monkeypatch.setattr(keyspace_mod, "KeySample", CountingSample)
    n = 1000
    db = _db(*(b"k%d" % i for i in range(n)))
    rng = random.Random(2)
    for step in range(3000):
        db.delete(b"k%d" % rng.randrange(n))
        db.set(b"k%d" % rng.randrange(n), b"v")
        assert db.random_key(rng) is not None, step
    # 6000 writes over ~600-1000 live keys: a rebuild needs >= ~n/2 of them.
    assert 1 <= len(builds) <= 20


def test_churning_one_key_does_not_dominate_the_draws() -> None:
    keys = [b"k%d" % i for i in range(30)]
    db = _db(*keys)
    rng = random.Random(9)
    counts: Counter[bytes | None] = Counter()
    for _ in range(3000):
        db.delete(b"k0")
        db.set(b"k0", b"v")  # held again in the list each time until a rebuild
        counts[db.random_key(rng)] += 1
    assert counts[b"k0"] < 4 * 3000 / 30  # uniform: 100; unbounded duplicates: ~1500


def test_the_list_is_dropped_after_idle_time_and_flush() -> None:
    db = _db(b"a")
    rng = random.Random(1)
    db.random_key(rng)
    assert db._sample is not None
    db.set_time(T0 + SAMPLE_IDLE_MS / 1000 + 1)
    db.active_expire(10)
    assert db._sample is None
    db.random_key(rng)
    db.flush()
    assert db._sample is None
    assert db.random_key(rng) is None


class RandomKeyMachine(RuleBasedStateMachine):
    """random_key against a set model under creates, deletes, renames, expiry, flush."""

    @initialize()
    def start(self) -> None:
        self.db = _db()
        self.now = T0
        self.model: dict[bytes, float | None] = {}  # key -> deadline (s) or None
        self.rng = random.Random(0)

    def _live(self) -> set[bytes]:
        return {k for k, at in self.model.items() if at is None or at * 1000 > self.now * 1000}

    @rule(key=st.sampled_from([b"a", b"b", b"c", b"d", b"e"]))
    def create(self, key: bytes) -> None:
        self.db.set(key, b"v")
        self.model[key] = None

    @rule(key=st.sampled_from([b"a", b"b", b"c", b"d", b"e"]))
    def delete(self, key: bytes) -> None:
        self.db.delete(key)
        self.model.pop(key, None)

    @rule(key=st.sampled_from([b"a", b"b", b"c"]), ttl_ms=st.integers(1, 3000))
    def expire(self, key: bytes, ttl_ms: int) -> None:
        if key in self.db:
            deadline_ms = int(self.now * 1000) + ttl_ms
            self.db.set_expire(key, deadline_ms)
            self.model[key] = deadline_ms / 1000

    @rule(seconds=st.floats(0, 2))
    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.db.set_time(self.now)
        self.model = {k: at for k, at in self.model.items()
                      if at is None or int(at * 1000) > int(self.now * 1000)}

    @rule(src=st.sampled_from([b"a", b"b"]), dst=st.sampled_from([b"c", b"d"]))
    def rename(self, src: bytes, dst: bytes) -> None:
        if src in self.db:
            at = self.model.pop(src)
            self.db.rename(src, dst)
            self.model[dst] = at

    @rule()
    def flush(self) -> None:
        self.db.flush()
        self.model.clear()

    @rule()
    def random_key(self) -> None:
        key = self.db.random_key(self.rng)
        live = self._live()
        if live:
            assert key in live
        else:
            assert key is None

    @invariant()
    def keys_agree(self) -> None:
        assert {k for k in list(self.db.data) if k in self.db} == self._live()


TestRandomKeyMachine = RandomKeyMachine.TestCase
TestRandomKeyMachine.settings = settings(max_examples=60, stateful_step_count=40,
                                         deadline=None)
