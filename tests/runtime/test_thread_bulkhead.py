"""The synchronous bulkhead (threads) and the bulkheads as decorators.

Real threads, but every wait is on an event the test controls, and timeouts are short
and only ever expected to run out (so a slow machine cannot make these tests flaky).
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from hld.core.resilience import BulkheadFullError, Deadline, ResilienceConfigError
from hld.runtime.resilience import AsyncBulkhead, ThreadBulkhead, deadline

JOIN_S = 30.0  # generous: only a broken bulkhead makes a thread take this long


def start(target: object) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def wait_until_queued(bulkhead: ThreadBulkhead, queued: int) -> None:
    for _ in range(3000):
        if bulkhead.core.queued == queued:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"never saw {queued} queued")


def test_waiters_get_the_slot_in_arrival_order_and_concurrency_stays_bounded() -> None:
    bulkhead = ThreadBulkhead(1, 3)
    gate = threading.Event()
    order: list[str] = []
    peak = {"in": 0, "max": 0}
    lock = threading.Lock()

    def body(name: str) -> None:
        with bulkhead:
            with lock:
                peak["in"] += 1
                peak["max"] = max(peak["max"], peak["in"])
                order.append(name)
            if name == "first":
                gate.wait(JOIN_S)
            with lock:
                peak["in"] -= 1

    threads = [start(lambda: body("first"))]
    wait_until_queued(bulkhead, 0)
    for i, name in enumerate(["a", "b", "c"]):
        threads.append(start(lambda n=name: body(n)))
        wait_until_queued(bulkhead, i + 1)
    gate.set()
    for thread in threads:
        thread.join(JOIN_S)
    assert order == ["first", "a", "b", "c"]
    assert peak["max"] == 1
    assert (bulkhead.core.in_flight, bulkhead.core.queued) == (0, 0)


def test_a_full_queue_refuses_at_once() -> None:
    bulkhead = ThreadBulkhead(1, 0)
    bulkhead.acquire()
    with pytest.raises(BulkheadFullError, match="1 in flight and 0 queued"):
        bulkhead.acquire()
    bulkhead.release()
    bulkhead.acquire()  # the slot is free again
    bulkhead.release()


def test_a_waiter_gives_up_after_max_wait_and_leaves_the_queue() -> None:
    bulkhead = ThreadBulkhead(1, 1, max_wait_s=0.05)
    bulkhead.acquire()
    with pytest.raises(BulkheadFullError, match=r"waited 0\.05s"):
        bulkhead.acquire()
    assert bulkhead.core.queued == 0
    assert bulkhead.core.statistics().cancelled_total == 1
    bulkhead.release()
    assert bulkhead.core.in_flight == 0


def test_no_waiting_past_the_current_deadline() -> None:
    now = {"t": 10.0}
    bulkhead = ThreadBulkhead(1, 5, clock=lambda: now["t"])
    bulkhead.acquire()
    with deadline(at=Deadline(10.5), clock=lambda: now["t"]):
        now["t"] = 10.5  # the budget is spent while we hold the only slot
        with pytest.raises(BulkheadFullError, match="no time to wait"):
            bulkhead.acquire()
    assert bulkhead.core.queued == 0
    bulkhead.release()


def test_decorator_releases_the_slot_when_the_call_raises() -> None:
    bulkhead = ThreadBulkhead(1)

    @bulkhead
    def explode() -> None:
        raise ValueError("boom")

    @bulkhead
    def answer(x: int) -> int:
        return x * 2

    with pytest.raises(ValueError, match="boom"):
        explode()
    assert answer(21) == 42
    assert bulkhead.core.in_flight == 0


def test_bad_max_wait_is_refused() -> None:
    with pytest.raises(ResilienceConfigError, match="max_wait_s"):
        ThreadBulkhead(1, max_wait_s=-1.0)
    with pytest.raises(ResilienceConfigError, match="max_concurrent"):
        ThreadBulkhead(0)


def test_async_bulkhead_as_a_decorator_bounds_concurrency() -> None:
    bulkhead = AsyncBulkhead(2, 10)
    seen = {"in": 0, "max": 0}

    @bulkhead
    async def work(x: int) -> int:
        seen["in"] += 1
        seen["max"] = max(seen["max"], seen["in"])
        await asyncio.sleep(0)
        seen["in"] -= 1
        return x

    async def main() -> list[int]:
        return await asyncio.gather(*(work(i) for i in range(8)))

    assert list(range(8)) == asyncio.run(main())
    assert seen["max"] == 2


def test_async_bulkhead_refuses_to_decorate_a_plain_function() -> None:
    with pytest.raises(ResilienceConfigError, match="ThreadBulkhead"):
        AsyncBulkhead(1)(lambda: None)  # type: ignore[arg-type,return-value]
