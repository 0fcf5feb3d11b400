"""`hld up` end to end: real processes on loopback, real clients, clean shutdown."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hld.control.supervisor import pid_alive
from tests.e2e.system import RunningSystem, pick_ports, running_system, write_config

pytestmark = [pytest.mark.blackbox, pytest.mark.slow]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    with running_system(tmp_path_factory.mktemp("system")) as running:
        yield running


def hld(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hld.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_up_prints_the_urls(system: RunningSystem) -> None:
    text = "".join(system.output)
    assert f"http://127.0.0.1:{system.ports['gateway']}" in text
    assert f"http://127.0.0.1:{system.ports['control']}" in text


def test_status_shows_every_component_running(system: RunningSystem) -> None:
    result = hld("status", "--data-dir", str(system.data_dir), "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {r["component"]: r for r in json.loads(result.stdout)["rows"]}
    assert set(rows) >= {"store-primary", "store-replica", "cache", "app-1", "app-2",
                         "worker-1", "worker-2", "gateway"}
    assert all(r["running"] for r in rows.values())


def test_a_request_is_followed_across_processes(system: RunningSystem) -> None:
    """The gateway's request id reaches the app and the worker, and `hld logs` finds them."""
    with httpx.Client(base_url=system.gateway, timeout=10) as client:
        reply = client.post("/api/signup", json={"username": "carol", "password": "pw-123456"})
        assert reply.status_code == 201, reply.text
        token = reply.json()["token"]
        reply = client.post("/api/posts", json={"text": "hello #e2e"},
                            headers={"authorization": f"Bearer {token}",
                                     "x-request-id": "e2e-trace-1"})
        assert reply.status_code == 201, reply.text
        assert reply.headers["x-request-id"] == "e2e-trace-1"
    deadline = time.monotonic() + 30
    components: set[str] = set()
    while time.monotonic() < deadline and not {"gateway", "app", "worker"} <= components:
        time.sleep(1)  # the gateway flushes its access log once a second
        result = hld("logs", "--data-dir", str(system.data_dir), "--request-id", "e2e-trace-1",
                     "--raw")
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        components = {str(r.get("component", "")).split("-")[0] for r in lines}
    assert {"gateway", "app", "worker"} <= components


def test_requests_without_a_token_are_refused_by_the_gateway(system: RunningSystem) -> None:
    reply = httpx.get(f"{system.gateway}/api/timeline", timeout=10)
    assert reply.status_code == 401
    assert reply.json()["error"].startswith("missing bearer token")


def test_malformed_api_requests_get_json_errors(system: RunningSystem) -> None:
    with httpx.Client(base_url=system.gateway, timeout=10) as client:
        reply = client.post("/api/signup", content=b"{not json",
                            headers={"content-type": "application/json"})
        assert reply.status_code in (400, 422)
        assert "error" in reply.json()


def test_fault_api_rejects_unknown_components(system: RunningSystem) -> None:
    reply = httpx.post(f"{system.control}/api/faults",
                       json={"component": "nope", "action": "kill"}, timeout=10)
    assert reply.status_code == 400
    assert "unknown component" in reply.json()["error"]


def test_starting_twice_names_the_busy_port(tmp_path: Path) -> None:
    ports = pick_ports(__import__("random").Random(3))
    config = tmp_path / "system.toml"
    write_config(config, tmp_path / "data", ports)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports["gateway"]))
        busy.listen()
        result = hld("up", "--config", str(config))
    assert result.returncode == 2
    assert f"{ports['gateway']} (gateway) already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "system.toml"
    config.write_text("[app]\ncount = 1\n")
    result = hld("up", "--config", str(config))
    assert result.returncode == 2
    assert "app.count: must be between 2 and 8, got 1" in result.stderr
    config.write_text("[gatway]\nport = 1\n")
    result = hld("up", "--config", str(config))
    assert result.returncode == 2
    assert "gatway: unknown key" in result.stderr


def test_shutdown_leaves_no_process_behind(tmp_path: Path) -> None:
    with running_system(tmp_path, seed=11) as running:
        pids = running.component_pids()
        assert pids
        assert all(pid_alive(p) for p in pids)
        control = running.process
    assert control.poll() is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    assert [p for p in pids if pid_alive(p)] == []
    assert "nothing left running" in "".join(running.output)
