"""The Redis backend against a real redis-server: same decisions as the core, atomic."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hld.core.limit import ALGORITHMS, make
from hld.runtime.limit_redis import AsyncRedisLimiter, RedisLimiter, script_source

pytestmark = pytest.mark.redis

# Every test writes under its own key prefix: the server is shared by the whole session.
_counter = itertools.count()

RATE_PER_S = 4.0
BURST = 5
# (seconds, cost): bursts, refusals, waits across windows, a clock step back, peeks,
# costs above one and above the limit. Simulated time runs far ahead of real time, and
# the keys' least TTL (60 s) outlives the test, so Redis never forgets a key mid-sequence.
SEQUENCE = [
    (100.0, 1), (100.0, 1), (100.0, 2), (100.0, 1), (100.0, 1), (100.0, 1),
    (100.05, 0), (100.3, 1), (100.31, 3), (100.9, 1), (101.25, 6), (101.25, 2),
    (101.26, 1), (101.0, 1), (102.6, 1), (103.0, 4), (103.01, 1), (104.2, 1),
    (104.2, 1), (104.7, 2), (110.0, 5), (110.0, 1), (111.3, 1), (111.31, 1),
]


@pytest.fixture
def client(redis_server: int) -> Iterator[redis.Redis]:
    conn = redis.Redis(host="127.0.0.1", port=redis_server)
    try:
        yield conn
    finally:
        conn.close()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_redis_decides_exactly_as_the_core(client: redis.Redis, algorithm: str) -> None:
    local = make(algorithm, RATE_PER_S, BURST)
    remote = RedisLimiter(client, make(algorithm, RATE_PER_S, BURST),
                          prefix=f"hld:same:{next(_counter)}:", ttl_min_s=60.0)
    expected = [local.allow(now, cost) for now, cost in SEQUENCE]
    actual = [remote.allow("user:1", now, cost) for now, cost in SEQUENCE]
    assert actual == expected


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    burst=st.integers(min_value=1, max_value=6),
    steps=st.lists(st.tuples(st.sampled_from([0.0, 0.001, 0.05, 0.2, 0.5, 1.3, 4.0]),
                             st.integers(min_value=0, max_value=7)), max_size=25),
)
def test_redis_matches_the_core_on_generated_traffic(
        client: redis.Redis, algorithm: str, burst: int, steps: list[tuple[float, int]]) -> None:
    key = f"gen:{next(_counter)}"
    local = make(algorithm, 3.0, burst)
    remote = RedisLimiter(client, make(algorithm, 3.0, burst), ttl_min_s=60.0)
    now = 1000.0
    for gap, cost in steps:
        now += gap
        assert remote.allow(key, now, cost) == local.allow(now, cost)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_keys_are_independent(client: redis.Redis, algorithm: str) -> None:
    remote = RedisLimiter(client, make(algorithm, RATE_PER_S, BURST),
                          prefix=f"hld:indep:{next(_counter)}:")
    first = [remote.allow("a", 50.0).allowed for _ in range(BURST + 1)]
    other = remote.allow("b", 50.0)
    assert first == [True] * BURST + [False]
    assert other.allowed


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_key_written_expires(client: redis.Redis, algorithm: str) -> None:
    """Memory stays bounded: no key is left without a TTL, none longer than needed."""
    prototype = make(algorithm, RATE_PER_S, BURST)
    prefix = f"hld:ttl:{next(_counter)}:"
    remote = RedisLimiter(client, prototype, prefix=prefix, ttl_min_s=1.0)
    for i in range(20):
        remote.allow(f"k{i}", 10.0 + i * 0.01, 1)
    keys = client.keys(f"{prefix}*")
    assert keys
    ttls_ms = [client.pttl(k) for k in keys]
    longest_ms = 1000 * max(prototype.horizon_s, 1.0) + 2
    assert all(0 < t <= longest_ms for t in ttls_ms)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_server_clock_is_used_when_now_is_omitted(client: redis.Redis, algorithm: str) -> None:
    # Windows of 30,000 s: four calls straddling a fixed window's edge is then negligible.
    remote = RedisLimiter(client, make(algorithm, 0.0001, 3),
                          prefix=f"hld:time:{next(_counter)}:")
    allowed = [remote.allow("clock").allowed for _ in range(4)]
    assert allowed == [True, True, True, False]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_concurrent_threads_never_over_admit(redis_server: int, algorithm: str) -> None:
    """8 threads x 15 calls at one instant against a burst of 20: exactly 20 pass."""
    burst = 20
    prefix = f"hld:race:{next(_counter)}:"
    admitted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        conn = redis.Redis(host="127.0.0.1", port=redis_server)
        try:
            remote = RedisLimiter(conn, make(algorithm, 1.0, burst), prefix=prefix)
            passed = sum(remote.allow("shared", 500.0).allowed for _ in range(15))
        finally:
            conn.close()
        with lock:
            admitted.append(passed)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(admitted) == burst


def test_asyncio_tasks_never_over_admit(redis_server: int) -> None:
    async def scenario() -> int:
        conn = redis.asyncio.Redis(host="127.0.0.1", port=redis_server)
        try:
            remote = AsyncRedisLimiter(conn, make("gcra", 1.0, 10),
                                       prefix=f"hld:race:{next(_counter)}:")
            results = await asyncio.gather(*(remote.allow("shared", 7.0) for _ in range(60)))
        finally:
            await conn.aclose()
        return sum(d.allowed for d in results)

    assert asyncio.run(scenario()) == 10


def test_async_decides_exactly_as_the_core(redis_server: int) -> None:
    async def scenario() -> None:
        conn = redis.asyncio.Redis(host="127.0.0.1", port=redis_server)
        try:
            local = make("sliding_counter", RATE_PER_S, BURST)
            remote = AsyncRedisLimiter(conn, make("sliding_counter", RATE_PER_S, BURST),
                                       prefix=f"hld:async:{next(_counter)}:", ttl_min_s=60.0)
            for now, cost in SEQUENCE:
                assert await remote.allow("u", now, cost) == local.allow(now, cost)
        finally:
            await conn.aclose()

    asyncio.run(scenario())


def test_scripts_survive_a_script_flush(client: redis.Redis) -> None:
    remote = RedisLimiter(client, make("gcra", 1.0, 2), prefix=f"hld:flush:{next(_counter)}:")
    assert remote.allow("f", 1.0).allowed
    client.script_flush()
    assert remote.allow("f", 1.0).allowed
    assert not remote.allow("f", 1.0).allowed


def test_bad_cost_is_refused_before_reaching_redis(client: redis.Redis) -> None:
    remote = RedisLimiter(client, make("token_bucket", 1.0, 2))
    with pytest.raises(ValueError, match="cost"):
        remote.allow("x", 1.0, -1)


def test_bad_configuration_is_refused(client: redis.Redis) -> None:
    with pytest.raises(TypeError, match="prototype"):
        RedisLimiter(client, "gcra")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl_min_s"):
        RedisLimiter(client, make("gcra", 1.0, 2), ttl_min_s=0)
    with pytest.raises(ValueError, match="no Redis script"):
        script_source("magic")
