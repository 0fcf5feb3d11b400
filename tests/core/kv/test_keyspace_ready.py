"""The keyspace queues a key in ``ready`` when clients are parked on it and it is removed
(delete, expiry, rename away, flush) or overwritten, so the shell re-runs their commands."""

from __future__ import annotations

from hld.core.kv.keyspace import Keyspace

T0 = 1_700_000_000.0


def _parked_on(*keys: bytes) -> Keyspace:
    db = Keyspace()
    db.set_time(T0)
    for key in keys:
        db.set(key, b"v")
        db.blocking[key] = 1
    return db


def test_deleting_a_key_with_parked_clients_makes_it_ready() -> None:
    db = _parked_on(b"a")
    db.set(b"other", b"v")
    assert db.delete(b"other")
    assert db.ready == []
    assert db.delete(b"a")
    assert db.ready == [b"a"]


def test_an_expired_key_with_parked_clients_becomes_ready() -> None:
    db = _parked_on(b"a")
    db.set_expire(b"a", int(T0 * 1000) + 10)
    db.set_time(T0 + 1)
    assert db.active_expire(100) == 1
    assert db.ready == [b"a"]


def test_renaming_away_readies_the_source_and_the_destination() -> None:
    db = _parked_on(b"a", b"b")
    db.rename(b"a", b"b")
    assert sorted(set(db.ready)) == [b"a", b"b"]


def test_flush_readies_every_key_with_parked_clients() -> None:
    db = _parked_on(b"a", b"b")
    db.set(b"c", b"v")
    db.flush()
    assert sorted(db.ready) == [b"a", b"b"]


def test_overwriting_a_key_with_parked_clients_makes_it_ready() -> None:
    db = _parked_on(b"a")
    db.set_string(b"a", b"new")
    assert db.ready == [b"a"]
