"""Save points (``save``): CONFIG GET/SET save answer as redis-server 7.0 does, a reached
save point starts a background snapshot on both servers, ``hld store`` gives Redis'
default when persistence is configured, and redis-benchmark can read the config."""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from hld.core.kv.savepoints import REDIS_DEFAULT, render
from hld.store import cli as store_cli
from hld.store.config import StoreConfig
from tests.store.conftest import Target
from tests.store.store_process import running
from tests.support import free_port, require, wait_for_port

pytestmark = pytest.mark.blackbox

SAVE_WAIT_TIMEOUT_S = 15.0
INFO_FIELDS = ("rdb_changes_since_last_save", "rdb_bgsave_in_progress",
               "rdb_last_bgsave_status", "rdb_last_save_time")


@contextlib.contextmanager
def _restored_save(client: redis.Redis) -> Iterator[str]:
    """The server's save setting, put back afterwards (the servers are shared)."""
    original = str(client.config_get("save")["save"])
    try:
        yield original
    finally:
        client.config_set("save", original)


def test_config_set_save_then_get_answers_as_redis(r: redis.Redis) -> None:
    with _restored_save(r):
        for text, shown in (("900 1 300 100", "900 1 300 100"), ("+5 1", "5 1"),
                            ("900 0", "900 0"), ("", "")):
            assert r.config_set("save", text) is True
            assert {"save": shown} == r.config_get("save")


@pytest.mark.parametrize("text", ["900", "0 1", "900 x", "900  1", "-1 5"])
def test_config_set_save_refuses_what_redis_refuses(r: redis.Redis, text: str) -> None:
    with _restored_save(r) as original:
        with pytest.raises(redis.ResponseError) as caught:
            r.config_set("save", text)
        message = str(caught.value)
        assert message.startswith("CONFIG SET failed (possibly related to argument 'save')")
        assert "Invalid save parameters" in message
        assert {"save": original} == r.config_get("save")  # unchanged


def test_info_persistence_reports_the_save_fields(r: redis.Redis) -> None:
    fields = r.info("persistence")
    assert [name for name in INFO_FIELDS if name not in fields] == []
    assert fields["rdb_last_bgsave_status"] in ("ok", "err")
    assert abs(int(fields["rdb_last_save_time"]) - time.time()) < 365 * 24 * 3600


# -- save points reached on dedicated servers -------------------------------------------

@contextlib.contextmanager
def _server(kind: str, data_dir: Path, *save: str,
            extra: tuple[str, ...] = ()) -> Iterator[redis.Redis]:
    """A fresh hld-store or redis-server in ``data_dir`` started with ``--save ...`` (and
    ``extra`` flags both understand, such as ``--appendonly yes``)."""
    if kind == "hld":
        with running(data_dir, "--save", *save, *extra) as server:
            client = server.client(socket_timeout=10)
            try:
                yield client
            finally:
                client.close()
        return
    binary = require("redis-server")
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir",
                             str(data_dir), "--save", *save, *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_timeout=10)
    try:
        wait_for_port(port)
        yield client
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


def _wait_saved(client: redis.Redis, before_s: int) -> dict[str, object]:
    deadline = time.monotonic() + SAVE_WAIT_TIMEOUT_S
    fields = client.info("persistence")
    while time.monotonic() < deadline and not (
            fields["rdb_changes_since_last_save"] == 0
            and int(fields["rdb_last_save_time"]) > before_s
            and fields["rdb_bgsave_in_progress"] == 0):
        time.sleep(0.1)
        fields = client.info("persistence")
    return dict(fields)


@pytest.mark.parametrize("kind", ["hld", "redis"])
def test_a_reached_save_point_starts_a_background_snapshot(kind: str, tmp_path: Path) -> None:
    with _server(kind, tmp_path, "1 2") as client:
        before_s = int(client.info("persistence")["rdb_last_save_time"])
        client.set("a", "1")
        time.sleep(1.5)  # one change: the point "1 2" is not reached however long we wait
        assert client.info("persistence")["rdb_changes_since_last_save"] == 1
        assert before_s == int(client.info("persistence")["rdb_last_save_time"])
        client.set("b", "2")
        fields = _wait_saved(client, before_s)
        assert (fields["rdb_changes_since_last_save"],
                                fields["rdb_bgsave_in_progress"],
                                fields["rdb_last_bgsave_status"]) == (0, 0, "ok")
        assert int(str(fields["rdb_last_save_time"])) > before_s
        assert client.lastsave().timestamp() == int(str(fields["rdb_last_save_time"]))
    snapshot = "dump.hld" if kind == "hld" else "dump.rdb"
    assert (tmp_path / snapshot).exists()


@pytest.mark.parametrize("kind", ["hld", "redis"])
def test_config_set_save_applies_at_run_time(kind: str, tmp_path: Path) -> None:
    with _server(kind, tmp_path, "") as client:
        before_s = int(client.info("persistence")["rdb_last_save_time"])
        client.set("a", "1")
        time.sleep(1.5)
        assert client.info("persistence")["rdb_changes_since_last_save"] == 1
        client.config_set("save", "1 1")
        fields = _wait_saved(client, before_s)
        assert (fields["rdb_changes_since_last_save"],
                             fields["rdb_last_bgsave_status"]) == (0, "ok")


def test_the_hld_server_restarts_with_what_the_save_point_wrote(tmp_path: Path) -> None:
    with _server("hld", tmp_path, "1 1") as client:
        before_s = int(client.info("persistence")["rdb_last_save_time"])
        client.set("kept", "yes")
        _wait_saved(client, before_s)
        # SHUTDOWN NOSAVE skips the final save: only the save point's file holds the key
        client.shutdown(nosave=True)
    with running(tmp_path, "--save", "") as server, server.client() as again:
        assert again.get("kept") == b"yes"


# -- defaults and flags -------------------------------------------------------------

def _config(*argv: str) -> StoreConfig:
    parser = argparse.ArgumentParser()
    store_cli.add_arguments(parser)
    return store_cli.build_config(parser.parse_args(list(argv)))


def test_save_defaults_to_redis_points_when_persistence_is_configured(tmp_path: Path) -> None:
    assert _config("--dir", str(tmp_path)).save == REDIS_DEFAULT
    assert _config("--appendonly", "yes").save == REDIS_DEFAULT
    assert _config().save == ()  # a throwaway store never snapshots by itself
    assert _config("--dir", str(tmp_path), "--save", "").save == ()
    assert render(_config("--dir", str(tmp_path), "--save", "60", "5").save) == "60 5"
    assert render(_config("--save", "60 5 10 100").save) == "60 5 10 100"


def test_config_file_save_lines_add_up_and_empty_clears(tmp_path: Path) -> None:
    path = tmp_path / "store.conf"
    path.write_text(f"dir {tmp_path}\nsave 900 1\nsave 300 10\n")
    assert render(_config(str(path)).save) == "900 1 300 10"
    path.write_text(f"dir {tmp_path}\nsave 900 1\nsave \"\"\n")
    assert _config(str(path)).save == ()
    path.write_text(f"dir {tmp_path}\n")
    assert _config(str(path)).save == REDIS_DEFAULT


def test_bad_save_flag_is_one_line_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "hld.cli", "store", "--save", "0 1"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("hld store: error: bad value for 'save': Invalid save "
                               "parameters")


def test_redis_benchmark_reads_the_config_without_warning(target: Target) -> None:
    binary = require("redis-benchmark")
    done = subprocess.run([binary, "-p", str(target.port), "-n", "200", "-t", "ping", "-q"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert "Could not fetch server CONFIG" not in done.stdout + done.stderr
    assert "PING_MBULK" in done.stdout
