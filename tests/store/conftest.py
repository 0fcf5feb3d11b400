"""Fixtures for the hld-store behaviour suite: one hld-store per session, and ``target``
parametrized over [hld-store, real redis-server] so the same test runs against both.

The real redis-server is the session-wide ``redis_server`` fixture shared with other
suites, so tests never FLUSHALL it: each test uses keys under its own prefix (``k``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.store.store_process import StoreProcess


@dataclass(frozen=True)
class Target:
    name: str  # "hld" or "redis"
    port: int


@pytest.fixture(scope="session")
def hld_store_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One hld-store process for the whole session (started via ``python -m hld.cli``)."""
    server = StoreProcess(Path(tmp_path_factory.mktemp("hld-store")))
    try:
        server.start()
        yield server.port
    finally:
        server.stop()


@pytest.fixture(params=["hld", "redis"])
def target(request: pytest.FixtureRequest) -> Target:
    if request.param == "redis":
        return Target("redis", int(request.getfixturevalue("redis_server")))
    return Target("hld", int(request.getfixturevalue("hld_store_port")))


@pytest.fixture
def r(target: Target) -> Iterator[redis.Redis]:
    client = redis.Redis(port=target.port, socket_timeout=10)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def k(request: pytest.FixtureRequest, r: redis.Redis) -> Iterator[str]:
    """A key prefix private to this test; its keys are removed before and after."""
    # Brackets in parametrized test ids would be glob classes in KEYS/PSUBSCRIBE patterns.
    prefix = "t:" + request.node.name.replace("[", "(").replace("]", ")") + ":"
    _clean(r, prefix)
    yield prefix
    _clean(r, prefix)


def _clean(r: redis.Redis, prefix: str) -> None:
    keys = r.keys(prefix + "*")
    if keys:
        r.delete(*keys)
