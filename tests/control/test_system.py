"""system.toml: embedded defaults, and every mistake names the file and the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hld.control.system import SystemConfigError, from_mapping, load


def test_defaults_give_every_process_its_own_port() -> None:
    config = load(None)
    ports = config.public_ports()
    assert len(set(ports.values())) == len(ports)
    assert ports["worker-1 metrics"] == 8201
    assert ports["app-1 (internal)"] == config.app.base_port + 10_000


@pytest.mark.parametrize(("data", "message"), [
    ({"app": {"count": 1}}, "t.toml: app.count: must be between 2 and 8, got 1"),
    ({"gatway": {}}, "t.toml: gatway: unknown key"),
    ({"store": {"backend": "mongo"}}, "t.toml: store.backend: 'mongo' is not one of"),
    ({"cache": {"port": "x"}}, "t.toml: cache.port: expected int, got 'x'"),
    ({"workers": {"metrics_base_port": 8100}},
     "t.toml: worker-1 metrics and app-1 both use port 8101"),
])
def test_a_bad_value_names_the_key_and_the_problem(data: dict[str, object],
                                                   message: str) -> None:
    with pytest.raises(SystemConfigError) as caught:
        from_mapping(data, "t.toml")
    assert str(caught.value).startswith(message)


def test_an_unreadable_or_invalid_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SystemConfigError, match=r"missing\.toml: cannot read"):
        load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[app\n")
    with pytest.raises(SystemConfigError, match=r"bad\.toml: not valid TOML"):
        load(bad)
