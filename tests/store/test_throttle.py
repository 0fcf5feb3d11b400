"""CL.THROTTLE over the real protocol (hld-store only: redis-server has no redis-cell)."""

from __future__ import annotations

import pytest
import redis

pytestmark = pytest.mark.blackbox


@pytest.fixture
def hr(hld_store_port: int) -> redis.Redis:
    return redis.Redis(port=hld_store_port, protocol=2)


def test_burst_then_limited_with_retry_after(hr: redis.Redis) -> None:
    hr.delete("t:throttle:user")
    replies = [hr.execute_command("CL.THROTTLE", "t:throttle:user", 3, 10, 60)
               for _ in range(5)]
    assert [r[:3] for r in replies] == [[0, 4, 3], [0, 4, 2], [0, 4, 1], [0, 4, 0], [1, 4, 0]]
    assert replies[0][3] == -1
    assert replies[4][3] in (5, 6)  # one emission interval (6 s), rounded up
    assert 0 < hr.pttl("t:throttle:user") <= 24_000
    hr.delete("t:throttle:user")


def test_quantity_and_bad_arguments(hr: redis.Redis) -> None:
    hr.delete("t:throttle:q")
    assert hr.execute_command("CL.THROTTLE", "t:throttle:q", 9, 10, 1, 10)[:3] == [0, 10, 0]
    with pytest.raises(redis.ResponseError, match="not an integer"):
        hr.execute_command("CL.THROTTLE", "t:throttle:q", "x", 10, 60)
    with pytest.raises(redis.ResponseError, match="count_per_period"):
        hr.execute_command("CL.THROTTLE", "t:throttle:q", 1, 0, 60)
    hr.set("t:throttle:wrong", "text")
    with pytest.raises(redis.ResponseError, match="not an integer"):
        hr.execute_command("CL.THROTTLE", "t:throttle:wrong", 1, 10, 60)
    hr.delete("t:throttle:q", "t:throttle:wrong")
