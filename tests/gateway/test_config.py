"""Configuration errors: one line naming the file, the key and the problem; exit 2.

Most cases call ``hld.cli.main`` in-process (fast); one bad file and the busy port go
through a real ``python -m hld.cli gateway`` process to pin the exit status and stderr.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hld.cli import main
from hld.gateway.config import ConfigError, from_mapping, load

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
[[listeners]]
address = "127.0.0.1:0"

[upstreams.app]
servers = ["http://127.0.0.1:9"]

[[routes]]
prefix = "/"
upstream = "app"
"""


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    code = main(["gateway", "--config", str(path), "--check"])
    captured = capsys.readouterr()
    return code, (captured.err or captured.out).strip()


def test_a_good_file_checks_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(tmp_path, GOOD, capsys)
    assert (code, out.endswith("ok (1 routes, 1 upstreams)")) == (0, True)


@pytest.mark.parametrize(("text", "expected"), [
    ("[[listeners]\naddress = 1", "not valid TOML"),
    (GOOD + "\n[gatway]\nworkers = 2\n", "gatway: unknown key"),
    (GOOD.replace('upstream = "app"', 'upstream = "ap"'),
     "routes[0].upstream: unknown upstream 'ap' (known: app)"),
    (GOOD.replace('prefix = "/"', 'prefix = "/"\ntimout_s = 1'), "routes[0].timout_s: unknown key"),
    (GOOD.replace('servers = ["http://127.0.0.1:9"]', 'servers = ["ftp://x"]'),
     "upstreams.app.servers[0]: upstream 'ftp://x' must be an http:// URL"),
    (GOOD.replace('servers = ["http://127.0.0.1:9"]',
                  'servers = ["http://127.0.0.1:9"]\nbalance = "fastest"'),
     "upstreams.app.balance: 'fastest' is not one of"),
    (GOOD.replace('servers = ["http://127.0.0.1:9"]',
                  'servers = ["http://127.0.0.1:9"]\nretries = 9'),
     "upstreams.app.retries: must be between 0 and 4, got 9"),
    (GOOD.replace('address = "127.0.0.1:0"', 'address = "localhost"'),
     "listeners[0].address: address 'localhost' must look like HOST:PORT"),
    (GOOD.replace('upstream = "app"', 'upstream = "app"\nauth = "jwt"'),
     "'jwt' needs an [auth.jwt] table"),
    (GOOD + '\n[auth.jwt]\njwks_file = "/nonexistent/jwks.json"\n',
     "auth.jwt: cannot read keys"),
    (GOOD + '\n[gateway]\nheader_timeout_s = -1\n', "gateway.header_timeout_s: must be > 0"),
    (GOOD.replace('servers = ["http://127.0.0.1:9"]',
                  'servers = ["http://127.0.0.1:9"]\nidle_timeout_s = 0'),
     "upstreams.app.idle_timeout_s: must be > 0"),
    (GOOD + '\n[gateway]\ntrusted_proxies = ["10.0.0.0/33"]\n',
     "gateway.trusted_proxies: '10.0.0.0/33' is not an IP"),
    (GOOD.replace('prefix = "/"', 'prefix = "/"\nrules = [{ effect = "maybe" }]'),
     "routes[0].rules[0].effect: 'maybe' is not one of allow, deny"),
])
def test_config_errors_name_file_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         text: str, expected: str) -> None:
    code, err = check(tmp_path, text, capsys)
    assert code == 2
    assert err.count("\n") == 0, err
    assert f"{tmp_path / 'gateway.toml'}:" in err
    assert expected in err


def test_missing_file_is_a_clear_error(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["gateway", "--config", str(tmp_path / "nope.toml"), "--check"])
    assert code == 2
    assert "nope.toml: cannot read" in capsys.readouterr().err


def test_flags_errors_are_clear(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["gateway", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:8101",
                 "--check"])
    assert code == 2
    assert "must be an http:// URL" in capsys.readouterr().err


def test_every_rule_problem_is_reported_by_from_mapping() -> None:
    with pytest.raises(ConfigError, match="routes: missing"):
        from_mapping({"listeners": [{"address": "127.0.0.1:1"}],
                      "upstreams": {"a": {"servers": ["http://h:1"]}}}, "x.toml")


def test_example_of_a_full_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "full.toml"
    path.write_text(GOOD + """
[upstreams.app.breaker]
open_s = 2
[gateway]
workers = 2
access_log = false
header_timeout_s = 2
""")
    config = load(path)
    assert (config.workers, config.access_log, config.timeouts.header_s,
            config.upstreams["app"].breaker.open_s if config.upstreams["app"].breaker
            else None) == (2, False, 2.0, 2.0)


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "hld.cli", "gateway", *args],
                          capture_output=True, text=True, timeout=60, env=env, cwd=cwd,
                          check=False)


@pytest.mark.blackbox
def test_bad_toml_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[[listeners]\n")
    result = run_cli(["--config", str(path), "--check"], tmp_path)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"hld gateway: error: {path}: not valid TOML")
    assert result.stderr.count("\n") == 1


@pytest.mark.blackbox
def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(["--listen", f"127.0.0.1:{port}", "--upstream", "http://127.0.0.1:9"],
                         tmp_path)
    assert result.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.blackbox
def test_workers_share_the_port_and_stop_together(tmp_path: Path) -> None:
    from tests.gateway.conftest import plain_get, running_upstream
    from tests.support import free_port, wait_for_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with running_upstream("w") as upstream:
        proc = subprocess.Popen([sys.executable, "-m", "hld.cli", "gateway", "--listen",
                                 f"127.0.0.1:{port}", "--upstream", upstream.url,
                                 "--workers", "2"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
        try:
            wait_for_port(port, timeout_s=20.0)
            assert [plain_get(port, "/echo")[0] for _ in range(10)] == [200] * 10
            children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                      text=True, check=False).stdout.split()
            assert len(children) == 2
            proc.terminate()
            assert proc.wait(timeout=15) == 0
            assert [Path(f"/proc/{pid}").exists() for pid in children] == [False, False]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
