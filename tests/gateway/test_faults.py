"""Faults behind the gateway: upstreams killed, hung, slow, failing, or overloaded.

Each pool in the one gateway of this module has its own upstream processes, so breaker,
ejection and budget state of one test never leaks into another.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx
import pytest

from tests.gateway.conftest import (
    GatewayProcess,
    Upstream,
    metric_value,
    running_gateway,
    running_upstreams,
    start,
    wait_until,
)
from tests.support import free_port

pytestmark = pytest.mark.blackbox

NAMES = ("k1", "k2", "hang", "flaky", "retry", "narrow", "healthy")


@pytest.fixture(scope="module")
def ups(processes: ExitStack) -> dict[str, Upstream]:
    result: dict[str, Upstream] = start(processes, running_upstreams(*NAMES))
    return result


@pytest.fixture(scope="module")
def gw(processes: ExitStack, ups: dict[str, Upstream],
       tmp_path_factory: pytest.TempPathFactory) -> GatewayProcess:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    config = f"""
[upstreams.duo]
servers = ["{ups['k1'].url}", "{ups['k2'].url}"]
retries = 2
retry_base_s = 0.001
breaker = false
health_check = {{ path = "/healthz", interval_s = 0.3, timeout_s = 0.3 }}
outlier = {{ consecutive_failures = 2, base_ejection_s = 1.0, max_ejection_pct = 50 }}

[upstreams.hang]
servers = ["{ups['hang'].url}"]
timeout_s = 0.5
retries = 0

[upstreams.flaky]
servers = ["{ups['flaky'].url}"]
retries = 0
[upstreams.flaky.breaker]
failure_rate_pct = 50
window = 4
minimum_calls = 4
open_s = 1.0
half_open_probes = 1

[upstreams.retry]
servers = ["{ups['retry'].url}"]
retries = 2
retry_base_s = 0.001
retry_budget_pct = 10
retry_budget_min_per_s = 0
breaker = false

[upstreams.again]
servers = ["{ups['retry'].url}"]
retries = 2
retry_base_s = 0.001
breaker = false

[upstreams.narrow]
servers = ["{ups['narrow'].url}"]
max_concurrent = 1
queue = 1
queue_timeout_s = 3.0

[upstreams.down]
servers = ["{dead}"]
retries = 1
retry_base_s = 0.001
breaker = false

[upstreams.healthy]
servers = ["{ups['healthy'].url}"]

[[routes]]
prefix = "/duo/"
rewrite = "/"
upstream = "duo"
[[routes]]
prefix = "/hang/"
rewrite = "/"
upstream = "hang"
[[routes]]
prefix = "/flaky/"
rewrite = "/"
upstream = "flaky"
[[routes]]
prefix = "/retry/"
rewrite = "/"
upstream = "retry"
[[routes]]
prefix = "/again/"
rewrite = "/"
upstream = "again"
[[routes]]
prefix = "/narrow/"
rewrite = "/"
upstream = "narrow"
[[routes]]
prefix = "/down/"
rewrite = "/"
upstream = "down"
[[routes]]
prefix = "/"
upstream = "healthy"
"""
    return start(processes, running_gateway(config, tmp_path_factory.mktemp("gw")))


@pytest.fixture
def client(gw: GatewayProcess) -> httpx.Client:
    with gw.client() as c:
        yield c


def server_state(gw: GatewayProcess, upstream: str, port: int) -> dict[str, object]:
    servers = gw.status()["upstreams"][upstream]["servers"]
    return next(s for s in servers if s["server"].endswith(f":{port}"))


def test_killed_upstream_is_ejected_traffic_flows_to_the_other_and_it_returns(
        gw: GatewayProcess, ups: dict[str, Upstream], client: httpx.Client) -> None:
    k1, k2 = ups["k1"], ups["k2"]
    assert {client.get("/duo/echo").json()["name"] for _ in range(4)} == {"k1", "k2"}
    k1.kill()
    try:
        outcomes = []
        for _ in range(20):
            started = time.monotonic()
            reply = client.get("/duo/echo")
            outcomes.append((reply.status_code, time.monotonic() - started))
        # Connection refused is retried on the other server: nobody sees the failure.
        assert [status for status, _ in outcomes] == [200] * 20
        assert max(elapsed for _, elapsed in outcomes) < 1.0
        wait_until(lambda: not server_state(gw, "duo", k1.port)["available"], 5.0)
        assert {client.get("/duo/echo").json()["name"] for _ in range(6)} == {"k2"}
    finally:
        k1.start()  # the same port: the active health check lets it back in
    wait_until(lambda: bool(server_state(gw, "duo", k1.port)["available"]), 10.0)
    assert {client.get("/duo/echo").json()["name"] for _ in range(6)} == {"k1", "k2"}
    assert k2.hits("/echo") > 0


def test_hung_upstream_gives_504_by_the_route_timeout(client: httpx.Client) -> None:
    started = time.monotonic()
    reply = client.get("/hang/hang")
    elapsed_s = time.monotonic() - started
    assert reply.status_code == 504
    assert "deadline" in reply.json()["error"]
    assert 0.4 < elapsed_s < 2.0


def test_slow_upstream_within_the_timeout_answers(client: httpx.Client) -> None:
    assert client.get("/hang/slow?ms=200").status_code == 200


def test_failing_upstream_opens_the_breaker_then_half_open_probe_closes_it(
        gw: GatewayProcess, ups: dict[str, Upstream], client: httpx.Client) -> None:
    flaky = ups["flaky"]
    flaky.reset()
    statuses = [client.get("/flaky/status/500").status_code for _ in range(4)]
    assert statuses == [500] * 4
    started = time.monotonic()
    refused = client.get("/flaky/echo")
    assert refused.status_code == 503
    assert "circuit open" in refused.json()["error"]
    assert time.monotonic() - started < 0.5
    assert "retry-after" in refused.headers
    assert flaky.hits("*") == 4  # the refused request never reached the upstream
    assert metric_value(gw.metrics(), "hld_gateway_breaker_open", upstream="flaky") == 1.0
    time.sleep(1.2)  # open_s
    assert client.get("/flaky/echo").status_code == 200  # the half-open probe
    assert [client.get("/flaky/echo").status_code for _ in range(3)] == [200] * 3
    wait_until(lambda: metric_value(gw.metrics(), "hld_gateway_breaker_open",
                                    upstream="flaky") == 0.0, 3.0)
    events = [e for e in gw.status()["events"] if e["kind"] == "breaker"]
    assert [e["new"] for e in events if e["upstream"] == "flaky"][:3] == \
        ["open", "half_open", "closed"]


def test_transient_failure_of_a_get_is_retried(ups: dict[str, Upstream],
                                               client: httpx.Client) -> None:
    retry = ups["retry"]
    retry.reset()
    reply = client.get("/again/fail-then-ok?n=1&key=once")
    assert reply.status_code == 200
    assert retry.hits("/fail-then-ok") == 2


def test_post_is_never_retried_after_its_body_was_sent(ups: dict[str, Upstream],
                                                       client: httpx.Client) -> None:
    retry = ups["retry"]
    retry.reset()
    reply = client.post("/retry/fail-then-ok?n=1&key=post", content=b"order=1")
    assert reply.status_code == 503
    assert retry.hits("/fail-then-ok") == 1


def test_retries_stay_within_the_budget(gw: GatewayProcess, ups: dict[str, Upstream],
                                        client: httpx.Client) -> None:
    retry = ups["retry"]
    retry.reset()
    before = metric_value(gw.metrics(), "hld_gateway_retries_total", upstream="retry")
    requests = 30
    statuses = [client.get("/retry/status/503").status_code for _ in range(requests)]
    assert set(statuses) == {503}
    retries = metric_value(gw.metrics(), "hld_gateway_retries_total", upstream="retry") - before
    # 10 % of the requests in the window, no per-second floor; the POST of the test
    # before counts towards the window too.
    assert retries <= 0.1 * (requests + 1) + 1e-9
    assert retry.hits("/status/503") == requests + retries


def test_bulkhead_full_queue_answers_503_at_once(ups: dict[str, Upstream],
                                                 gw: GatewayProcess) -> None:
    def call(delay_s: float) -> tuple[int, str]:
        time.sleep(delay_s)
        with gw.client() as client:
            reply = client.get("/narrow/slow?ms=1000")
        return reply.status_code, reply.text

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(call, (0.0, 0.2, 0.4)))
    # One runs, one waits in the queue of one, the third finds it full (not timed out
    # in the queue, which would take queue_timeout_s = 3 s).
    assert [status for status, _ in results] == [200, 200, 503]
    assert "queue is full" in results[2][1]
    assert ups["narrow"].hits("/slow") == 2


def test_gateway_keeps_serving_healthy_routes_while_an_upstream_is_down(
        client: httpx.Client) -> None:
    started = time.monotonic()
    down = client.get("/down/echo")
    assert down.status_code in (502, 503)
    assert "connect" in down.json()["error"] or "healthy" in down.json()["error"]
    assert time.monotonic() - started < 1.0
    assert [client.get("/echo").json()["name"] for _ in range(3)] == ["healthy"] * 3
