"""RANDOMKEY over the wire on both servers: a live key, nil when there is none, expired
keys skipped (and removed) on the way."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from tests.store.test_save_points import _server

pytestmark = pytest.mark.blackbox


def test_randomkey_returns_an_existing_key(r: redis.Redis, k: str) -> None:
    r.mset({k + "a": "1", k + "b": "2"})
    for _ in range(20):
        key = r.randomkey()
        assert key is not None
        assert r.exists(key) == 1


@pytest.mark.parametrize("kind", ["hld", "redis"])
def test_randomkey_skips_expired_keys_and_is_nil_when_none_live(kind: str,
                                                                tmp_path: Path) -> None:
    # Private servers: these tests need the whole keyspace to themselves.
    with _server(kind, tmp_path, "") as client:
        client.config_set("hz", "1")  # leave the expired keys to RANDOMKEY, not the cron
        assert client.randomkey() is None
        client.set("live", "1")
        with client.pipeline(transaction=False) as pipe:
            for i in range(50):
                pipe.set(f"gone{i}", "x", px=1)
            pipe.execute()
        time.sleep(0.05)
        assert {client.randomkey() for _ in range(30)} == {b"live"}
        client.delete("live")
        assert client.randomkey() is None
        assert client.dbsize() == 0  # drawn expired keys were removed, as Redis does
