"""The same system with redis-server as store primary, replica and cache node
(``[store] backend = "redis"``): the app, the workers and the failover run unchanged."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hld.control.supervisor import pid_alive
from tests.e2e.system import STOP_TIMEOUT_S, RunningSystem, running_system
from tests.support import require

pytestmark = [pytest.mark.blackbox, pytest.mark.slow, pytest.mark.redis]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    require("redis-server")
    with running_system(tmp_path_factory.mktemp("redis"), seed=41, backend="redis") as running:
        yield running


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_the_stores_are_redis_server_processes(system: RunningSystem) -> None:
    rows = system.state()["components"]
    assert isinstance(rows, list)
    components = {c["name"]: c for c in rows}
    for name in ("store-primary", "store-replica", "cache"):
        assert "redis-server" in command_line(int(components[name]["pid"]))


def test_a_post_fans_out_to_a_follower_through_redis_streams(system: RunningSystem) -> None:
    with httpx.Client(base_url=system.gateway, timeout=15) as client:
        tokens = {}
        for name in ("ada", "bob"):
            reply = client.post("/api/signup", json={"username": name, "password": "pw-123456"})
            assert reply.status_code == 201, reply.text
            tokens[name] = {"authorization": f"Bearer {reply.json()['token']}"}
        assert client.post("/api/follow/ada", headers=tokens["bob"]).status_code in (200, 201)
        post = client.post("/api/posts", json={"text": "on redis #backend"},
                           headers=tokens["ada"])
        assert post.status_code == 201, post.text
        assert post.json()["replicas_acked"] == 1  # WAIT against a real redis replica
        deadline = time.monotonic() + 30
        seen: list[int] = []
        while time.monotonic() < deadline and post.json()["id"] not in seen:
            time.sleep(0.5)
            timeline = client.get("/api/timeline", headers=tokens["bob"]).json()
            seen = [p["id"] for p in timeline["posts"]]
        assert post.json()["id"] in seen


def test_failover_promotes_the_redis_replica(system: RunningSystem) -> None:
    reply = httpx.post(f"{system.control}/api/faults",
                       json={"component": "store-primary", "action": "kill"}, timeout=60)
    assert reply.status_code == 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and httpx.get(
            f"{system.control}/api/state", timeout=10).json()["primary"] != "store-replica":
        time.sleep(0.5)
    topology = json.loads((system.data_dir / "topology.json").read_text())
    assert topology["store_primary"] == f"127.0.0.1:{system.ports['replica']}"
    with httpx.Client(base_url=system.gateway, timeout=15) as client:
        token = client.post("/api/login", json={"username": "ada", "password": "pw-123456"}
                            ).json()["token"]
        codes = []
        for _ in range(20):  # the apps reconnect once they read the new topology
            codes.append(client.post("/api/posts", json={"text": "after failover"},
                                     headers={"authorization": f"Bearer {token}"}).status_code)
            if codes[-1] == 201:
                break
            time.sleep(1)
    assert codes[-1] == 201, codes


def test_ctrl_c_stops_everything_and_leaves_no_process_behind(system: RunningSystem) -> None:
    pids = system.component_pids()
    assert pids
    system.process.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal sends
    system.process.wait(timeout=STOP_TIMEOUT_S)
    assert system.pump is not None
    system.pump.join(timeout=10)
    assert system.process.returncode == 0
    assert [p for p in pids if pid_alive(p)] == []
    assert "nothing left running" in "".join(system.output)
