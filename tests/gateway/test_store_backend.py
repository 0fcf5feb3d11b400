"""The gateway's shared state in hld-store itself: rate limits by its native CL.THROTTLE
(GCRA) and opaque tokens looked up with GET, as in the running system."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

from tests.gateway.conftest import (
    GatewayProcess,
    Upstream,
    running_gateway,
    running_upstream,
    start,
)
from tests.store.store_process import StoreProcess, running

pytestmark = pytest.mark.blackbox


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    with running(Path(tmp_path_factory.mktemp("store"))) as server:
        yield server


@pytest.fixture(scope="module")
def gw(processes: ExitStack, store: StoreProcess,
       tmp_path_factory: pytest.TempPathFactory) -> GatewayProcess:
    upstream: Upstream = start(processes, running_upstream("app"))
    url = f"redis://127.0.0.1:{store.port}/0"
    config = f"""
[upstreams.app]
servers = ["{upstream.url}"]

[auth.opaque]
url = "{url}"
cache_s = 0

[rate_limit]
backend = "store"
url = "{url}"

[[routes]]
name = "limited"
prefix = "/limited/"
rewrite = "/echo/"
upstream = "app"
auth = "opaque"
rate_limit = {{ rate = 3, per_s = 60, burst = 3, key = "subject" }}
"""
    return start(processes, running_gateway(config, tmp_path_factory.mktemp("gw")))


def test_store_throttle_limits_per_subject_with_opaque_tokens(gw: GatewayProcess,
                                                              store: StoreProcess) -> None:
    client: redis.Redis = store.client()
    client.set("token:t1", '{"sub": "carol", "roles": ["reader"]}')
    client.set("token:t2", "dave")
    with gw.client() as http:
        carol = [http.get("/limited/x", headers={"authorization": "Bearer t1"})
                 for _ in range(4)]
        dave = http.get("/limited/x", headers={"authorization": "Bearer t2"})
        client.delete("token:t2")
        revoked = http.get("/limited/x", headers={"authorization": "Bearer t2"})
    assert [r.status_code for r in carol] == [200, 200, 200, 429]
    assert carol[0].json()["headers"]["x-auth-subject"] == "carol"
    assert int(carol[3].headers["retry-after"]) >= 1
    assert carol[3].headers["ratelimit-limit"] == "3"
    assert (dave.status_code, revoked.status_code) == (200, 401)  # cache_s = 0: at once
