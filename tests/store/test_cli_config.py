"""``hld store`` settings: flags and config file share parsers; mistakes are one line
naming the key; CONFIG GET/SET read and change the live settings; redis-cli works."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from hld.store.config import ConfigError, StoreConfig, load_file, parse_memory, set_value
from tests.store.store_process import running


@pytest.mark.parametrize(("text", "expected"), [
    ("100mb", 100 * 1024 * 1024), ("1gb", 1024**3), ("4096", 4096), ("1k", 1000),
    ("2KB", 2048),
])
def test_memory_sizes_use_redis_units(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize(("name", "value", "message"), [
    ("maxmemory", "lots", "bad value for 'maxmemory'"),
    ("maxmemory-policy", "allkeys-magic", "bad value for 'maxmemory-policy'"),
    ("appendfsync", "sometimes", "bad value for 'appendfsync'"),
    ("port", "70000", "bad value for 'port'"),
    ("colour", "blue", "unknown setting 'colour'"),
])
def test_bad_settings_name_the_key(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        set_value(StoreConfig(), name, value)


def test_config_file_lines_and_errors_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "store.conf"
    path.write_text("# comment\nmaxmemory 10mb\nmaxmemory-policy allkeys-lru\n"
                    'requirepass "s3cret"\nreplicaof 127.0.0.1 7000\n')
    config = StoreConfig()
    load_file(config, path)
    assert (config.maxmemory, config.maxmemory_policy, config.requirepass, config.replicaof) \
        == (10 * 1024 * 1024, "allkeys-lru", "s3cret", ("127.0.0.1", 7000))
    path.write_text("maxmemory 10mb\nappendonly maybe\n")
    with pytest.raises(ConfigError, match=r"store.conf:2: bad value for 'appendonly'"):
        load_file(StoreConfig(), path)


def test_cli_bad_flag_is_one_line_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "hld.cli", "store", "--maxmemory", "huge"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    expected = ("hld store: error: bad value for 'maxmemory': not a memory size: 'huge' "
                "(use e.g. 100mb, 1gb, 4096)")
    assert done.stderr.strip().splitlines() == [expected]


@pytest.mark.blackbox
def test_requirepass_config_set_and_redis_cli(tmp_path: Path) -> None:
    with running(tmp_path, "--maxmemory", "50mb") as server:
        setup = redis.Redis(port=server.port)
        assert setup.config_set("requirepass", "pw") is True  # takes effect for new clients
        setup.close()
        anonymous = redis.Redis(port=server.port, protocol=2)
        with pytest.raises(redis.AuthenticationError):
            anonymous.get("a")
        authed = redis.Redis(port=server.port, password="pw")  # noqa: S106 - test password
        assert authed.config_get("maxmemory") == {"maxmemory": str(50 * 1024 * 1024)}
        assert authed.config_set("maxmemory-policy", "allkeys-lru") is True
        assert authed.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        with pytest.raises(redis.ResponseError, match="CONFIG SET failed"):
            authed.config_set("maxmemory", "lots")
        assert authed.config_resetstat() is True
        cli = shutil.which("redis-cli")
        if cli is not None:
            out = subprocess.run([cli, "-p", str(server.port), "-a", "pw", "--no-auth-warning",
                                  "SET", "k", "v"], capture_output=True, text=True,
                                 timeout=30, check=True)
            assert out.stdout.strip() == "OK"
            out = subprocess.run([cli, "-p", str(server.port), "-a", "pw", "--no-auth-warning",
                                  "GET", "k"], capture_output=True, text=True, timeout=30,
                                 check=True)
            assert out.stdout.strip() == "v"
        authed.close()
        anonymous.close()


@pytest.mark.blackbox
def test_maxmemory_over_the_wire_evicts_and_noeviction_refuses(tmp_path: Path) -> None:
    with running(tmp_path, "--maxmemory", "3mb", "--maxmemory-policy", "allkeys-lru") as server:
        r = redis.Redis(port=server.port)
        pipe = r.pipeline(transaction=False)
        for i in range(20000):
            pipe.set(f"k{i}", "x" * 100)
        pipe.execute()
        info = r.info()
        assert info["used_memory"] <= 3 * 1024 * 1024
        assert info["evicted_keys"] > 0
        r.config_set("maxmemory-policy", "noeviction")
        pipe = r.pipeline(transaction=False)
        for i in range(20000):
            pipe.set(f"n{i}", "x" * 100)
        replies = pipe.execute(raise_on_error=False)
        assert any(isinstance(x, redis.exceptions.OutOfMemoryError) for x in replies)
        r.close()
