"""Settings, topology, hashtags and CLI errors: the parts of chirp that need no server."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from hld.app.service import hashtags
from hld.app.settings import (
    Settings,
    SettingsError,
    Topology,
    jwt_secret,
    load,
    read_topology,
)
from hld.cli import main
from hld.control.system import SystemConfig

MIRRORED = {  # Settings field -> SystemConfig path
    "data_dir": "data_dir", "host": "host", "sql_url": "app.sql_url",
    "write_policy": "app.write_policy", "cache_ttl_s": "app.cache_ttl_s",
    "fanout_read_threshold": "app.fanout_read_threshold",
    "timeline_length": "app.timeline_length", "jwt_ttl_s": "app.jwt_ttl_s",
    "visibility_timeout_s": "workers.visibility_timeout_s",
    "max_deliveries": "workers.max_deliveries", "batch": "workers.batch",
    "primary_port": "store.primary_port", "replica_port": "store.replica_port",
    "wait_replicas": "store.wait_replicas", "wait_timeout_ms": "store.wait_timeout_ms",
    "cache_port": "cache.port",
}


def system_value(config: object, path: str) -> object:
    for part in path.split("."):
        config = getattr(config, part)
    return config


def test_defaults_are_the_system_configs_defaults() -> None:
    ours, theirs = Settings(), SystemConfig()
    assert {f: getattr(ours, f) for f in MIRRORED} \
        == {f: system_value(theirs, p) for f, p in MIRRORED.items()}
    assert set(MIRRORED) <= {f.name for f in fields(Settings)}


def test_config_file_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "system.toml"
    config.write_text('data_dir = "/x"\n[app]\nwrite_policy = "write-through"\n'
                      "fanout_read_threshold = 3\n[workers]\nvisibility_timeout_s = 2\n"
                      "[gateway]\nport = 9000\n")
    settings = load(str(config), write_policy="write-around", store_url=None)
    assert (settings.data_dir, settings.write_policy, settings.fanout_read_threshold,
            settings.visibility_timeout_s) == ("/x", "write-around", 3, 2.0)
    assert settings.addresses() == Topology("redis://127.0.0.1:7379",
                                            "redis://127.0.0.1:7380",
                                            "redis://127.0.0.1:7381")


@pytest.mark.parametrize(("text", "message"), [
    ("[app]\ntimeline_length = \"long\"\n", "app.timeline_length: expected int"),
    ("[app]\nwrite_policy = \"write-back\"\n", "'write-back' is not one of"),
    ("[workers]\nmax_deliveries = 0\n", "max_deliveries must be at least 1"),
    ("[app\n", "not valid TOML"),
])
def test_a_bad_config_names_the_file_and_key(tmp_path: Path, text: str,
                                             message: str) -> None:
    config = tmp_path / "system.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=r"system\.toml") as raised:
        load(str(config))
    assert message in str(raised.value)


def test_topology_file_overrides_and_a_torn_file_is_ignored(tmp_path: Path) -> None:
    fallback = Topology("redis://a:1", "redis://b:2", "redis://c:3")
    path = tmp_path / "topology.json"
    assert read_topology(path, fallback) == fallback
    path.write_text('{"store_primary": "127.0.0.1:7380", "store_replica": ""}')
    assert read_topology(path, fallback) == Topology("redis://127.0.0.1:7380", "redis://b:2",
                                                     "redis://c:3")
    path.write_text('{"store_primary": ')
    assert read_topology(path, fallback) == fallback


def test_jwt_secret_is_created_once_and_short_ones_are_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "d"))
    first = jwt_secret(settings)
    assert len(first) == 64
    assert jwt_secret(settings) == first
    short = tmp_path / "short.key"
    short.write_text("tooshort\n")
    with pytest.raises(SettingsError, match="at least 32"):
        jwt_secret(Settings(jwt_secret_file=str(short)))


def test_hashtags_are_distinct_lowercase_and_bounded() -> None:
    assert hashtags("#Go #go #rust, #C++ and#x #") == ["go", "rust", "c", "x"]
    assert len(hashtags(" ".join(f"#t{i}" for i in range(20)))) == 10


@pytest.mark.parametrize("argv", [
    ["app", "--port", "70000"],
    ["app", "--port", "8000", "--config", "/nonexistent/system.toml"],
    ["app", "--port", "8000", "--store", "http://nope"],
    ["worker", "--index", "-1"],
])
def test_cli_mistakes_are_one_line_errors(argv: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"hld {argv[0]}: error: ")
    assert err.count("\n") == 1
