"""Opaque tokens and rate limits whose state lives in a real Redis (the store's stand-in).

The ``redis_server`` fixture (tests/conftest.py) is a real redis-server on a free port;
the gateway looks tokens up there (revocation is seen within ``cache_s``) and keeps its
rate-limit state there (the Lua GCRA), so two gateways share one limit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
import redis

from tests.gateway.conftest import (
    GatewayProcess,
    Upstream,
    running_gateway,
    running_gateways,
    running_upstream,
    start,
    wait_until,
)

pytestmark = [pytest.mark.blackbox, pytest.mark.redis]


@pytest.fixture(scope="module")
def store(redis_server: int) -> Iterator[redis.Redis]:
    client = redis.Redis(port=redis_server)
    yield client
    client.close()


@pytest.fixture(scope="module")
def upstream(processes: ExitStack) -> Upstream:
    return start(processes, running_upstream("app"))


def config(upstream: Upstream, redis_port: int) -> str:
    return f"""
[upstreams.app]
servers = ["{upstream.url}"]

[auth.opaque]
url = "redis://127.0.0.1:{redis_port}/0"
prefix = "token:"
cache_s = 0.5

[rate_limit]
backend = "redis"
url = "redis://127.0.0.1:{redis_port}/0"

[[routes]]
name = "opaque"
prefix = "/opaque/"
rewrite = "/echo/"
upstream = "app"
auth = "opaque"

[[routes]]
name = "shared"
prefix = "/shared/"
rewrite = "/echo/"
upstream = "app"
rate_limit = {{ rate = 4, per_s = 60, burst = 4, key = "route" }}

[[routes]]
prefix = "/"
upstream = "app"
"""


@pytest.fixture(scope="module")
def gateways(processes: ExitStack, upstream: Upstream, redis_server: int,
             tmp_path_factory: pytest.TempPathFactory) -> list[GatewayProcess]:
    result: list[GatewayProcess] = start(processes, running_gateways(
        [config(upstream, redis_server)] * 2, [tmp_path_factory.mktemp(f"gw{i}")
                                               for i in range(2)]))
    return result


def get(gw: GatewayProcess, path: str, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    with gw.client() as client:
        return client.get(path, headers=headers)


def test_opaque_token_from_the_store_sets_the_identity(gateways: list[GatewayProcess],
                                                       store: redis.Redis) -> None:
    store.set("token:t-alice", json.dumps({"sub": "alice", "roles": ["admin", "ops"]}))
    headers = get(gateways[0], "/opaque/me", "t-alice").json()["headers"]
    got = (headers["x-auth-subject"], headers["x-auth-roles"], headers["x-auth-method"])
    assert got == ("alice", "admin,ops", "opaque")


def test_unknown_opaque_token_is_401(gateways: list[GatewayProcess]) -> None:
    assert get(gateways[0], "/opaque/me", "t-nobody").status_code == 401


def test_revoked_opaque_token_is_refused_after_cache_s(gateways: list[GatewayProcess],
                                                       store: redis.Redis) -> None:
    store.set("token:t-bob", "bob")
    assert get(gateways[0], "/opaque/me", "t-bob").status_code == 200
    store.delete("token:t-bob")
    wait_until(lambda: get(gateways[0], "/opaque/me", "t-bob").status_code == 401, 3.0)


def test_rate_limit_in_redis_is_shared_by_two_gateways(gateways: list[GatewayProcess],
                                                       store: redis.Redis) -> None:
    for key in store.scan_iter("hld:gw:shared:*"):
        store.delete(key)
    statuses = [get(gateways[i % 2], "/shared/x").status_code for i in range(6)]
    assert statuses == [200, 200, 200, 200, 429, 429]
    refused = get(gateways[0], "/shared/x")
    assert (refused.status_code, refused.headers["ratelimit-limit"]) == (429, "4")
    assert int(refused.headers["retry-after"]) >= 1


def test_store_outage_answers_503_not_a_hang(upstream: Upstream,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.support import free_port

    with running_gateway(config(upstream, free_port()), tmp_path_factory.mktemp("gw")) as gw:
        started = time.monotonic()
        reply = get(gw, "/opaque/me", "t-any")
        assert reply.status_code == 503
        assert "store" in reply.json()["error"]
        assert time.monotonic() - started < 3.0
        assert get(gw, "/echo").status_code == 200  # routes without the store still work
