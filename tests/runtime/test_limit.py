"""The runtime shells over the rate limiters, on a manual clock (no real waits)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hld.core.limit import GCRA, FixedWindow, LeakyQueue, TokenBucket, make
from hld.core.resilience import Deadline
from hld.runtime.limit import WAIT_TRIES_MAX, LocalLimiter, RateLimited, rate_limited
from hld.runtime.resilience import deadline


class ManualClock:
    """Time that moves only when told to; ``sleep`` advances it and records the wait."""

    def __init__(self, start_s: float = 100.0) -> None:
        self.now = start_s
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


def local(prototype: object, clock: ManualClock, **options: object) -> LocalLimiter:
    return LocalLimiter(prototype, clock=clock, sleep=clock.sleep,  # type: ignore[arg-type]
                        async_sleep=clock.async_sleep, **options)  # type: ignore[arg-type]


def test_decisions_equal_the_core_fed_the_clocks_time() -> None:
    clock = ManualClock()
    shell = local(GCRA(rate_per_s=2.0, burst=3), clock)
    core = GCRA(rate_per_s=2.0, burst=3)
    for step_s in [0.0, 0.0, 0.0, 0.0, 0.2, 0.5, 0.0, 1.0, 0.1]:
        clock.now += step_s
        assert core.allow(clock.now) == shell.allow("k")


def test_keys_are_limited_independently_and_memory_is_bounded() -> None:
    clock = ManualClock()
    shell = local(FixedWindow(1, 10.0), clock, max_keys=2)
    assert [shell.allow(k).allowed for k in ["a", "a", "b"]] == [True, False, True]
    shell.allow("c")  # evicts the least recently used key
    assert len(shell.keyed) == 2


def test_check_raises_rate_limited_with_the_retry_after() -> None:
    clock = ManualClock()
    shell = local(TokenBucket(rate_per_s=4.0, burst=1), clock)
    shell.check("k")
    with pytest.raises(RateLimited, match=r"retry after 0\.250s") as info:
        shell.check("k")
    assert info.value.retry_after_s == 0.25
    assert info.value.decision.allowed is False


def test_wait_sleeps_exactly_the_retry_after_then_passes() -> None:
    clock = ManualClock()
    shell = local(TokenBucket(rate_per_s=4.0, burst=2), clock)
    decisions = [shell.wait("k") for _ in range(4)]
    assert all(d.allowed for d in decisions)
    assert clock.slept == [0.25, 0.25]


def test_wait_refuses_at_once_when_it_could_not_pass_in_time() -> None:
    clock = ManualClock()
    shell = local(TokenBucket(rate_per_s=1.0, burst=1), clock)
    shell.wait("k")
    with pytest.raises(RateLimited):
        shell.wait("k", max_wait_s=0.5)
    assert clock.slept == []  # no sleep that could not pay off


def test_wait_never_sleeps_past_the_current_deadline() -> None:
    clock = ManualClock()
    shell = local(TokenBucket(rate_per_s=1.0, burst=1), clock)
    shell.wait("k")
    with deadline(at=Deadline(clock.now + 0.5), clock=clock), pytest.raises(RateLimited):
        shell.wait("k")
    assert clock.slept == []
    with deadline(at=Deadline(clock.now + 2.0), clock=clock):
        assert shell.wait("k").allowed
    assert clock.slept == [1.0]


def test_a_cost_above_the_limit_is_refused_without_waiting() -> None:
    clock = ManualClock()
    shell = local(TokenBucket(rate_per_s=1.0, burst=2), clock)
    with pytest.raises(RateLimited, match="can never pass"):
        shell.wait("k", cost=3)
    assert clock.slept == []


def test_wait_gives_up_after_a_bounded_number_of_tries() -> None:
    """A key whose permits are always taken by others does not keep a waiter forever."""
    clock = ManualClock()
    shell = local(TokenBucket(rate_per_s=1.0, burst=1), clock)

    def rival_takes_the_permit(seconds: float) -> None:
        clock.sleep(seconds)
        assert shell.allow("k").allowed

    shell._sleep = rival_takes_the_permit  # a rival in the same instant
    shell.allow("k")
    with pytest.raises(RateLimited):
        shell.wait("k")
    assert len(clock.slept) == WAIT_TRIES_MAX


def test_wait_async_waits_on_the_loop() -> None:
    clock = ManualClock()
    shell = local(TokenBucket(rate_per_s=2.0, burst=1), clock)

    async def main() -> list[bool]:
        return [(await shell.wait_async("k")).allowed for _ in range(3)]

    assert asyncio.run(main()) == [True, True, True]
    assert clock.slept == [0.5, 0.5]


def test_shape_spaces_requests_at_the_rate_and_refuses_a_full_queue() -> None:
    """The leaky bucket as a queue: each request waits its turn; overflow is refused."""
    clock = ManualClock()
    shell = local(LeakyQueue(rate_per_s=10.0, capacity=3), clock)
    for _ in range(3):
        shell.allow("k")  # three requests queued at t=100 by other callers
    with pytest.raises(RateLimited):
        shell.shape("k")  # the queue is full
    assert clock.slept == []
    clock.now += 0.1  # one has left
    assert shell.shape("k") == pytest.approx(0.2)  # two still ahead of us
    assert clock.now == pytest.approx(100.3)


def test_shape_lets_requests_leave_evenly_spaced() -> None:
    clock = ManualClock()
    shell = local(LeakyQueue(rate_per_s=4.0, capacity=5), clock)
    shell.allow("k")
    shell.allow("k")  # two queued ahead, as concurrent callers would leave them

    async def main() -> list[float]:
        departures = []
        for _ in range(3):
            await shell.shape_async("k")
            departures.append(clock.now)
        return departures

    assert asyncio.run(main()) == pytest.approx([100.5, 100.75, 101.0])


def test_shape_needs_a_queue() -> None:
    shell = local(GCRA(rate_per_s=1.0, burst=1), ManualClock())
    with pytest.raises(TypeError, match="LeakyQueue"):
        shell.shape("k")


def test_threads_sharing_a_limiter_never_over_admit() -> None:
    shell = LocalLimiter(FixedWindow(100, 3600.0))
    admitted: list[bool] = []
    lock = threading.Lock()

    def hammer() -> None:
        mine = [shell.allow("k").allowed for _ in range(200)]
        with lock:
            admitted.extend(mine)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(admitted) == 100


def test_decorator_refuses_over_the_limit_per_key() -> None:
    clock = ManualClock()
    shell = local(FixedWindow(2, 60.0), clock)

    @rate_limited(shell, key=lambda user, _item: user)
    def fetch(user: str, item: int) -> int:
        return item

    assert [fetch("ann", 1), fetch("ann", 2), fetch("bob", 3)] == [1, 2, 3]
    with pytest.raises(RateLimited, match="'ann'"):
        fetch("ann", 4)


def test_decorator_on_a_coroutine_function() -> None:
    clock = ManualClock()
    shell = local(make("gcra", 1.0, 1), clock)

    @rate_limited(shell, key="all")
    async def ping() -> str:
        return "pong"

    async def main() -> list[str]:
        results = [await ping()]
        try:
            await ping()
        except RateLimited:
            results.append("limited")
        return results

    assert asyncio.run(main()) == ["pong", "limited"]


class FakeAsyncLimiter:
    """The shape of AsyncRedisLimiter without a server (the Redis tests use a real one)."""

    def __init__(self, clock: ManualClock) -> None:
        self.core = TokenBucket(rate_per_s=1.0, burst=1)
        self.clock = clock

    async def allow(self, key: str, now: float | None = None, cost: int = 1) -> object:
        return self.core.allow(self.clock(), cost)


def test_decorator_awaits_an_asyncio_limiter() -> None:
    limiter = FakeAsyncLimiter(ManualClock())

    @rate_limited(limiter, key="k")
    async def call() -> int:
        return 1

    async def main() -> None:
        assert await call() == 1
        with pytest.raises(RateLimited):
            await call()

    asyncio.run(main())


def test_an_asyncio_limiter_cannot_guard_a_plain_function() -> None:
    with pytest.raises(TypeError, match="coroutine function"):
        rate_limited(FakeAsyncLimiter(ManualClock()), key="k")(lambda: 1)


@pytest.mark.parametrize("max_wait_s", [-1.0, float("nan"), float("inf")])
def test_bad_max_wait_is_refused_at_the_boundary(max_wait_s: float) -> None:
    shell = local(GCRA(rate_per_s=1.0, burst=1), ManualClock())
    with pytest.raises(ValueError, match="max_wait_s"):
        shell.wait("k", max_wait_s=max_wait_s)


def test_a_prototype_that_is_not_a_limiter_is_refused() -> None:
    with pytest.raises(TypeError, match="rate limiter"):
        LocalLimiter("ten per second")  # type: ignore[arg-type]


@pytest.mark.redis
def test_decorator_over_the_real_redis_backend(redis_server: int) -> None:
    import redis.asyncio

    from hld.runtime.limit_redis import AsyncRedisLimiter

    async def main() -> list[str]:
        client = redis.asyncio.Redis(host="127.0.0.1", port=redis_server)
        try:
            limiter = AsyncRedisLimiter(client, FixedWindow(2, 60.0),
                                        prefix="test:runtime-limit:decorator:")

            @rate_limited(limiter, key=lambda user: user)
            async def hello(user: str) -> str:
                return f"hi {user}"

            results = [await hello("ann"), await hello("ann")]
            try:
                await hello("ann")
            except RateLimited as exc:
                results.append(f"limited, retry in {exc.retry_after_s > 0}")
            results.append(await hello("bob"))
            return results
        finally:
            await client.aclose()

    assert asyncio.run(main()) == ["hi ann", "hi ann", "limited, retry in True", "hi bob"]
