"""`hld up` end to end: real processes on loopback, real clients, clean shutdown."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
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
    """The gateway's request id reaches the app, the store (the fan-out XADD) and the
    worker that fans that entry out, and `hld logs --request-id` finds all four."""
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
    lines: list[dict[str, object]] = []
    wanted = {"gateway", "app", "store", "worker"}
    while time.monotonic() < deadline and not wanted <= {
            str(r.get("component", "")).split("-")[0] for r in lines}:
        time.sleep(1)  # the gateway flushes its access log once a second
        result = hld("logs", "--data-dir", str(system.data_dir), "--request-id", "e2e-trace-1",
                     "--raw")
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert wanted <= {str(r.get("component", "")).split("-")[0] for r in lines}
    # the entry the primary stored is the one the worker fanned out
    stored = [r["entry_id"] for r in lines if r.get("event") == "xadd" and not r["replica"]]
    fanned = [r["message_id"] for r in lines if r.get("event") == "fanout"]
    assert len(stored) == 1
    assert fanned == stored


def test_a_logged_out_token_is_refused_through_the_gateway(system: RunningSystem) -> None:
    with httpx.Client(base_url=system.gateway, timeout=10) as client:
        reply = client.post("/api/signup", json={"username": "dave", "password": "pw-123456"})
        assert reply.status_code == 201, reply.text
        auth = {"authorization": f"Bearer {reply.json()['token']}"}
        assert client.get("/api/timeline", headers=auth).status_code == 200
        reply = client.post("/api/logout", headers=auth)
        assert (reply.status_code, reply.json()) == (200, {"logged_out": "dave"})
        # whichever app replica the gateway picks, the session is gone from the store
        for _ in range(4):
            refused = client.get("/api/timeline", headers=auth)
            assert (refused.status_code, refused.json()["error"]) \
                == (401, "session revoked or expired: log in again")


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


def test_every_process_exposes_prometheus_metrics(system: RunningSystem) -> None:
    ports = system.ports
    pages = {
        "gateway": f"http://127.0.0.1:{ports['gateway_admin']}/metrics",
        "app-1": f"http://127.0.0.1:{ports['app']}/metrics",
        "app-2": f"http://127.0.0.1:{ports['app2']}/metrics",
        "worker-1": f"http://127.0.0.1:{ports['workers'] + 1}/metrics",
        "worker-2": f"http://127.0.0.1:{ports['workers'] + 2}/metrics",
        "control": f"{system.control}/metrics",
        **{name: f"http://127.0.0.1:{ports['store_metrics'] + n}/metrics"
           for n, name in enumerate(("store-primary", "store-replica", "cache"), 1)},
    }
    types = {name: httpx.get(url, timeout=10).headers["content-type"]
             for name, url in pages.items()}
    assert all(t.startswith("text/plain") for t in types.values()), types
    assert "hld_store_commands_processed" in httpx.get(pages["cache"], timeout=10).text
    # The control plane also exports every component's figures, the stores' INFO too.
    assert wait_until(lambda: 'hld_store_keys{component="store-primary"}' in httpx.get(
        pages["control"], timeout=10).text, 30)
    text = httpx.get(pages["control"], timeout=10).text
    assert 'hld_component_up{component="cache",kind="cache"} 1.0' in text


def test_the_dashboard_snapshot_has_each_apps_latency_and_the_stores_ops(
        system: RunningSystem) -> None:
    """Per-app p50/p99 come from each app's own /metrics, the stores' ops/s from theirs."""
    with httpx.Client(base_url=system.gateway, timeout=10) as client:
        reply = client.post("/api/signup", json={"username": "erin", "password": "pw-123456"})
        assert reply.status_code == 201, reply.text
        auth = {"authorization": f"Bearer {reply.json()['token']}"}
        seen: dict[str, object] = {}

        def figures_arrived() -> bool:
            for _ in range(10):  # traffic for both apps (round robin) between snapshots
                client.get("/api/timeline", headers=auth)
            snap = httpx.get(f"{system.control}/api/snapshot", timeout=10).json()
            seen.update(snap["components"])
            apps = [snap["components"][name] for name in ("app-1", "app-2")]
            stores = [snap["components"][name] for name in ("store-primary", "cache")]
            return all(isinstance(a.get("p99_ms"), float | int) and a["p99_ms"] > 0
                       and a["p50_ms"] <= a["p99_ms"] for a in apps) and all(
                s.get("ops_source") == "metrics" and s.get("ops", 0) > 0 for s in stores)

        assert wait_until(figures_arrived, 30), seen


def control(system: RunningSystem, path: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(f"{system.control}{path}", json=body, timeout=60)


def component(system: RunningSystem, name: str) -> dict[str, object]:
    state = httpx.get(f"{system.control}/api/state", timeout=10).json()
    row: dict[str, object] = next(c for c in state["components"] if c["name"] == name)
    return row


def proc_state(pid: int) -> str:
    """The kernel's one-letter state of ``pid`` (T: stopped by a signal)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if check():
                return True
        time.sleep(0.25)
    return False


def test_pause_and_resume_stop_and_continue_the_process(system: RunningSystem) -> None:
    assert control(system, "/api/faults", {"component": "worker-2", "action": "pause"}
                   ).status_code == 200
    pid = int(str(component(system, "worker-2")["pid"]))
    assert (component(system, "worker-2")["state"], proc_state(pid)) == ("paused", "T")
    assert control(system, "/api/faults", {"component": "worker-2", "action": "resume"}
                   ).status_code == 200
    assert component(system, "worker-2")["state"] == "running"
    assert proc_state(pid) != "T"


def test_link_faults_act_on_the_proxy_in_front_of_a_service(system: RunningSystem) -> None:
    app2 = f"http://127.0.0.1:{system.ports['app2']}/healthz"

    def fault(action: str, **params: object) -> None:
        reply = control(system, "/api/faults", {"component": "app-2", "action": action,
                                                **params})
        assert reply.status_code == 200, reply.text

    try:
        fault("latency", ms=400)
        started = time.monotonic()
        assert httpx.get(app2, timeout=10).status_code == 200
        assert time.monotonic() - started >= 0.4
        fault("clear")
        fault("reset")
        with pytest.raises(httpx.TransportError):
            httpx.get(app2, timeout=5)
        fault("clear")
        fault("blackhole")
        with pytest.raises(httpx.TimeoutException):
            httpx.get(app2, timeout=1)
        fault("clear")
        fault("bandwidth", kbps=16)
        proxies = httpx.get(f"{system.control}/api/state", timeout=10).json()["proxies"]
        faults = next(p for p in proxies if p["name"] == "app-2")["faults"]
        assert faults["bandwidth_kbps"] == 16
    finally:
        fault("clear")
    assert httpx.get(app2, timeout=10).status_code == 200


KILLED_APP_REQUESTS_MAX = 30   # requests sent while an app is down, at most ...
KILLED_APP_WINDOW_S = 30.0     # ... and for at most this long


def serve_while_one_app_is_down(system: RunningSystem) -> list[int]:
    """Status codes of GETs through the gateway until six 200s in a row (or the bounds)."""
    codes: list[int] = []
    deadline = time.monotonic() + KILLED_APP_WINDOW_S
    with httpx.Client(base_url=system.gateway, timeout=10) as client:
        while len(codes) < KILLED_APP_REQUESTS_MAX and time.monotonic() < deadline \
                and codes[-6:] != [200] * 6:
            try:
                codes.append(client.get("/healthz").status_code)
            except httpx.TimeoutException:
                codes.append(0)  # no answer at all: counted as a failure
    assert codes[-6:] == [200] * 6, f"no six 200s in a row within the bounds: {codes}"
    return codes


def test_kill_and_restart_an_app_while_the_gateway_keeps_serving(
        system: RunningSystem) -> None:
    old_pid = int(str(component(system, "app-2")["pid"]))
    assert control(system, "/api/faults", {"component": "app-2", "action": "kill"}
                   ).status_code == 200
    assert component(system, "app-2")["state"] == "killed"
    assert not pid_alive(old_pid)
    # Retried on app-1, then app-2 ejected: traffic goes on. A shared, loaded machine may
    # fail one retry (both attempts slow); without retries the first two or three
    # requests routed to app-2 would fail before its ejection (3 consecutive failures).
    codes = serve_while_one_app_is_down(system)
    streak_at = next(i for i in range(len(codes)) if codes[i:i + 6] == [200] * 6)
    failures = [code for code in codes[:streak_at] if code != 200]
    assert len(failures) <= 1, codes
    assert set(failures) <= {502, 503, 504}, codes
    assert control(system, "/api/faults", {"component": "app-2", "action": "restart"}
                   ).status_code == 200
    row = component(system, "app-2")
    assert row["state"] == "running"
    assert row["pid"] != old_pid
    assert httpx.get(f"http://127.0.0.1:{system.ports['app2']}/healthz",
                     timeout=10).status_code == 200


def test_policies_switch_live(system: RunningSystem) -> None:
    import redis

    admin = f"http://127.0.0.1:{system.ports['gateway_admin']}"
    before = httpx.get(f"{admin}/status", timeout=10).json()["upstreams"]["app"]["balance"]
    assert control(system, "/api/policy", {"policy": "balance", "value": "p2c"}
                   ).status_code == 200
    after = httpx.get(f"{admin}/status", timeout=10).json()["upstreams"]["app"]["balance"]
    assert after != before
    assert control(system, "/api/policy", {"policy": "eviction", "value": "allkeys-lfu"}
                   ).status_code == 200
    cache = redis.Redis(port=system.ports["cache"], socket_timeout=5)
    try:
        assert cache.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lfu"}
    finally:
        cache.close()
    reply = control(system, "/api/policy", {"policy": "balance", "value": "nope"})
    assert reply.status_code == 400
    assert "algorithm must be one of" in reply.json()["error"]
    with httpx.Client(base_url=system.gateway, timeout=10) as client:
        token = client.post("/api/signup", json={"username": "rita", "password": "pw-123456"}
                            ).json()["token"]
        headers = {"authorization": f"Bearer {token}"}
        assert control(system, "/api/policy", {"policy": "rate_limit", "value": "0.1",
                                               "route": "posts", "burst": 1}
                       ).status_code == 200
        try:
            codes = [client.post("/api/posts", json={"text": f"limited {i}"},
                                 headers=headers).status_code for i in range(3)]
        finally:
            control(system, "/api/policy", {"policy": "rate_limit", "value": "2",
                                            "route": "posts", "burst": 5})
    assert codes == [201, 429, 429]


def test_failover_promotes_the_replica_and_keeps_acknowledged_posts(
        system: RunningSystem) -> None:
    import redis

    with httpx.Client(base_url=system.gateway, timeout=15) as client:
        reply = client.post("/api/signup", json={"username": "fay", "password": "pw-123456"})
        token, uid = reply.json()["token"], reply.json()["user_id"]
        headers = {"authorization": f"Bearer {token}"}
        acked = []
        for i in range(3):
            post = client.post("/api/posts", json={"text": f"before {i}"}, headers=headers)
            assert post.status_code == 201, post.text
            if post.json()["replicas_acked"] >= 1:
                acked.append(post.json()["id"])
        assert acked
        assert control(system, "/api/faults", {"component": "store-primary",
                                               "action": "kill"}).status_code == 200
        assert wait_until(lambda: httpx.get(f"{system.control}/api/state", timeout=5)
                          .json()["primary"] == "store-replica", 60)
        topology = json.loads((system.data_dir / "topology.json").read_text())
        assert topology["store_primary"] == f"127.0.0.1:{system.ports['replica']}"
        # The apps follow the topology file: a new post lands on the promoted replica.
        assert wait_until(lambda: client.post("/api/posts", json={"text": "after"},
                                              headers=headers).status_code == 201, 60)
    replica = redis.Redis(port=system.ports["replica"], socket_timeout=5)
    try:
        stored = {int(x) for x in replica.lrange(f"chirp:posts:{uid}", 0, -1)}
    finally:
        replica.close()
    assert [p for p in acked if p not in stored] == []


def test_down_stops_a_system_started_from_another_terminal(system: RunningSystem) -> None:
    pids = system.component_pids()
    result = hld("down", "--data-dir", str(system.data_dir))
    assert result.returncode == 0, result.stderr
    assert "stopped" in result.stdout
    system.process.wait(timeout=30)
    assert [p for p in pids if pid_alive(p)] == []
    assert not (system.data_dir / "system.json").exists()
    result = hld("status", "--data-dir", str(system.data_dir))
    assert result.returncode == 2
    assert "no running system" in result.stderr


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
