"""masterauth/masteruser: a replica authenticates to a primary that has requirepass; a
missing or wrong password keeps the link down with an error naming the setting, and
CONFIG SET masterauth repairs it without a restart."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from hld.store.config import StoreConfig, get_value, load_file
from tests.store.store_process import START_TIMEOUT_S, StoreProcess
from tests.store.test_replication import eventually

pytestmark = pytest.mark.blackbox

# A space: the setting must survive quoting everywhere. A test password, not a secret.
PASSWORD = "s3cret pass"  # noqa: S105


def _link_status(client: redis.Redis) -> Any:
    return client.info("replication").get("master_link_status")


def _errors(server: StoreProcess) -> list[str]:
    events = []
    for line in server.log().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("level") == "error":
            events.append(str(record.get("event")))
    return events


@dataclass
class Pair:
    primary: StoreProcess
    replica: StoreProcess
    p: redis.Redis  # authenticated client of the primary
    r: redis.Redis  # client of the replica (no password)


@contextlib.contextmanager
def _pair(tmp_path: Path, *replica_args: str) -> Iterator[Pair]:
    """A primary with requirepass and a replica of it started with ``replica_args``."""
    primary = StoreProcess(tmp_path / "primary", "--requirepass", PASSWORD)
    replica = StoreProcess(tmp_path / "replica", "--replicaof", "127.0.0.1",
                           str(primary.port), *replica_args)
    p = primary.client(password=PASSWORD, socket_timeout=10)
    r = replica.client(socket_timeout=10)
    try:
        # StoreProcess' readiness probe has no password: wait for the primary here.
        primary.start(wait=False)
        eventually(lambda: _pings(p), timeout_s=START_TIMEOUT_S)
        yield Pair(primary, replica, p, r)
    finally:
        p.close()
        r.close()
        replica.stop()
        primary.stop()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_a_replica_with_masterauth_replicates_from_a_password_primary(tmp_path: Path) -> None:
    with _pair(tmp_path, "--masterauth", PASSWORD) as pair:
        pair.p.set("before", "1")
        pair.replica.start()
        eventually(lambda: _link_status(pair.r) == "up")
        pair.p.set("after", "2")
        eventually(lambda: pair.r.mget("before", "after") == [b"1", b"2"])
        assert pair.p.wait(1, 5000) == 1
        assert _errors(pair.replica) == []


def test_masteruser_default_with_masterauth_replicates(tmp_path: Path) -> None:
    with _pair(tmp_path, "--masteruser", "default", "--masterauth", PASSWORD) as pair:
        pair.replica.start()
        pair.p.set("k", "v")
        eventually(lambda: pair.r.get("k") == b"v")
        assert pair.r.config_get("master*") == {"masterauth": PASSWORD,
                                                "masteruser": "default"}


def test_a_wrong_masterauth_keeps_the_link_down_with_a_clear_error(tmp_path: Path) -> None:
    with _pair(tmp_path, "--masterauth", "wrong") as pair:
        pair.p.set("k", "v")
        pair.replica.start()
        errors = eventually(lambda: _errors(pair.replica))
        assert "refused our AUTH" in errors[0]
        assert "WRONGPASS" in errors[0]
        assert "masterauth" in errors[0]
        time.sleep(0.5)  # a few more attempts (backoff from 0.1 s): the same error once
        assert _errors(pair.replica) == errors[:1]
        assert _link_status(pair.r) == "down"
        assert pair.r.get("k") is None
        # The setting is read at every attempt: fixing it brings the link up.
        pair.r.config_set("masterauth", PASSWORD)
        eventually(lambda: _link_status(pair.r) == "up")
        eventually(lambda: pair.r.get("k") == b"v")


def test_no_masterauth_for_a_password_primary_says_to_set_it(tmp_path: Path) -> None:
    with _pair(tmp_path) as pair:
        pair.replica.start()
        errors = eventually(lambda: _errors(pair.replica))
        assert "requires a password" in errors[0]
        assert "NOAUTH" in errors[0]
        assert "set masterauth" in errors[0]
        assert _link_status(pair.r) == "down"


def test_masterauth_and_masteruser_from_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "replica.conf"
    path.write_text(f'masteruser default\nmasterauth "{PASSWORD}"\n')
    config = StoreConfig()
    load_file(config, path)
    assert (config.masteruser, config.masterauth) == ("default", PASSWORD)
    assert get_value(config, "masterauth") == PASSWORD
    assert get_value(StoreConfig(), "masterauth") == ""
