"""FLUSHALL and the snapshot, as redis-server 7.0: with save points configured FLUSHALL
saves the emptied dataset at once (a restart finds no keys; no change is left unsaved),
without save points the last snapshot stays as it was, and FLUSHDB never saves. Each case
runs on a fresh hld-store and a fresh redis-server; restarts follow SHUTDOWN NOSAVE, so
only what FLUSHALL (or SAVE) wrote is on disk."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis

from hld.core.kv.engine import Engine
from hld.store.config import StoreConfig
from hld.store.persistence.manager import Persistence, _Child
from tests.store.test_save_points import _server
from tests.store.test_shutdown import _stop

pytestmark = pytest.mark.blackbox

KINDS = ["hld", "redis"]
NEVER_REACHED = "3600 1000"  # a save point no test reaches: only FLUSHALL saves


def _changes(client: redis.Redis) -> int:
    return int(client.info("persistence")["rdb_changes_since_last_save"])


def _saved_then_filled(client: redis.Redis) -> None:
    """A snapshot holding two keys, then one more change."""
    client.mset({"a": "1", "b": "2"})
    assert client.save() is True
    client.set("c", "3")
    assert _changes(client) == 1


def _restarted_keys(kind: str, data_dir: Path, *save: str) -> list[bytes]:
    with _server(kind, data_dir, *save) as client:
        return sorted(client.keys("*"))


@pytest.mark.parametrize("kind", KINDS)
def test_flushall_with_save_points_saves_the_empty_dataset_at_once(
        kind: str, tmp_path: Path) -> None:
    with _server(kind, tmp_path, NEVER_REACHED) as client:
        _saved_then_filled(client)
        saves = int(client.info("persistence")["rdb_saves"])
        assert client.flushall() is True
        assert _changes(client) == 0
        assert int(client.info("persistence")["rdb_saves"]) == saves  # not counted
        _stop(client, "SHUTDOWN NOSAVE")
    assert _restarted_keys(kind, tmp_path, NEVER_REACHED) == []


@pytest.mark.parametrize("kind", KINDS)
def test_flushall_of_an_empty_dataset_with_save_points_saves_it_too(
        kind: str, tmp_path: Path) -> None:
    with _server(kind, tmp_path, NEVER_REACHED) as client:
        client.set("a", "1")
        assert client.save() is True
        client.delete("a")
        assert client.flushall() is True
        assert _changes(client) == 0
        _stop(client, "SHUTDOWN NOSAVE")
    assert _restarted_keys(kind, tmp_path, NEVER_REACHED) == []


@pytest.mark.parametrize("kind", KINDS)
def test_flushall_without_save_points_leaves_the_last_snapshot(
        kind: str, tmp_path: Path) -> None:
    with _server(kind, tmp_path, "") as client:
        _saved_then_filled(client)
        assert client.flushall() is True
        assert _changes(client) == 1 + 3  # one unsaved write, three keys removed
        assert client.flushall() is True
        assert _changes(client) == 1 + 3  # nothing removed: no change counted
        _stop(client, "SHUTDOWN NOSAVE")
    assert _restarted_keys(kind, tmp_path, "") == [b"a", b"b"]


@pytest.mark.parametrize("kind", KINDS)
def test_flushdb_never_saves(kind: str, tmp_path: Path) -> None:
    with _server(kind, tmp_path, NEVER_REACHED) as client:
        _saved_then_filled(client)
        assert client.flushdb() is True
        assert _changes(client) == 1 + 3
        _stop(client, "SHUTDOWN NOSAVE")
    assert _restarted_keys(kind, tmp_path, NEVER_REACHED) == [b"a", b"b"]


# -- a background save running when FLUSHALL comes ---------------------------------------

def test_flushall_kills_a_running_background_save_whose_file_would_bring_keys_back(
        tmp_path: Path) -> None:
    """In-process: a stand-in child (a sleeping process) is killed, reaped and forgotten,
    its temp file removed, and the save is not counted as failed."""
    server = SimpleNamespace(engine=Engine(rng=random.Random(1)),
                             config=StoreConfig(dir=str(tmp_path), save=()))
    persistence = Persistence(server)
    temp = tmp_path / "temp-child.hld"
    temp.write_bytes(b"half written")
    child = subprocess.Popen(["sleep", "60"])
    try:
        persistence.child = _Child("rdb", child.pid, str(temp), time.monotonic(), 0)
        persistence.after_flushall()
        assert (persistence.child, temp.exists(), persistence.last_bgsave_ok) == \
            (None, False, True)
        with pytest.raises(ProcessLookupError):
            os.kill(child.pid, 0)  # killed and reaped: no such process any more
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        with contextlib.suppress(ChildProcessError):
            child.wait(timeout=5)
    assert not (tmp_path / "dump.hld").exists()  # no save points: nothing saved
