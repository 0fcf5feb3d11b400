"""Sync and asyncio shells over hld.core.balance: the clock, a lock, and the lifecycle.

A core balancer knows nothing of time or threads; the runtime supplies both. ``Balanced``
wraps one balancer with a clock (default ``time.monotonic``) and runs each call through
the whole lifecycle (``pick``, ``on_start``, ``on_finish`` with the measured latency and
the outcome), so a caller cannot forget the finish that in-flight counts, latency
estimates and passive outlier detection depend on:

- ``with balanced.attempt(request) as a: use(a.backend)`` and its twin
  ``async with balanced.attempt_async(request) as a: await use(a.backend)``. An exception
  from the block is the backend's failure and propagates; ``a.fail()`` marks a failure
  without raising (a 503 that came back normally). ``async`` cancellation counts as a
  failure too: a deadline that cancels a slow call is the backend's slowness showing.
- ``call(fn, request)`` / ``await call_async(fn, request)``: the same around ``fn(backend)``.
- ``check_health(probe)`` / ``await check_health_async(probe, timeout_s=...)``: the hook for
  active checks, run once over every backend of the pool (concurrently for asyncio, each
  probe bounded by ``timeout_s``); a probe that raises or times out is a failed check. The
  caller schedules the rounds (``hld.core`` owns no timers), e.g. every few seconds.

One ``threading.Lock`` guards the core, so threads may share a ``Balanced``; it is held
only for the few microseconds of a pick or a finish, never across the call itself.
An empty pool (or every backend ejected with ``when_all_ejected="fail"``) raises
``NoBackendAvailable`` from the pick, before anything is marked in flight.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TypeVar

from hld.core.balance import EMPTY_REQUEST, Attempt, Backend, Balancer, Request

R = TypeVar("R")
Clock = Callable[[], float]

#: Longest an active health probe may take before it counts as failed: a check that
#: hangs must not stall the round (and a backend that slow is not healthy).
HEALTH_PROBE_S_MAX = 60.0


class Balanced:
    """A balancer on a clock, safe to share between threads and asyncio tasks."""

    __slots__ = ("_clock", "_lock", "balancer")

    def __init__(self, balancer: Balancer, *, clock: Clock = time.monotonic) -> None:
        if not isinstance(balancer, Balancer):
            raise TypeError(f"expected a hld.core.balance Balancer, not "
                            f"{type(balancer).__name__}")
        self.balancer = balancer
        self._clock = clock
        self._lock = threading.Lock()

    # -- the lifecycle -------------------------------------------------------------------

    def _start(self, request: Request) -> tuple[Attempt, float]:
        with self._lock:
            started_s = self._clock()
            handle = Attempt(self.balancer.pick(request, started_s))
            self.balancer.on_start(handle.backend)
        return handle, started_s

    def _finish(self, handle: Attempt, started_s: float) -> None:
        with self._lock:
            ended_s = self._clock()
            self.balancer.on_finish(handle.backend, max(0.0, ended_s - started_s),
                                    ok=handle.ok, now=ended_s)

    @contextmanager
    def attempt(self, request: Request = EMPTY_REQUEST) -> Iterator[Attempt]:
        """Pick a backend for the ``with`` block and report how it went."""
        handle, started_s = self._start(request)
        try:
            yield handle
        except BaseException:
            handle.ok = False
            raise
        finally:
            self._finish(handle, started_s)

    @asynccontextmanager
    async def attempt_async(self, request: Request = EMPTY_REQUEST) -> AsyncIterator[Attempt]:
        """``attempt`` for ``async with``; cancellation counts as the backend's failure."""
        handle, started_s = self._start(request)
        try:
            yield handle
        except BaseException:
            handle.ok = False
            raise
        finally:
            self._finish(handle, started_s)

    def call(self, fn: Callable[[Backend], R], request: Request = EMPTY_REQUEST) -> R:
        """``fn(backend)`` on a picked backend; an exception is a failure and propagates."""
        with self.attempt(request) as handle:
            return fn(handle.backend)

    async def call_async(self, fn: Callable[[Backend], Awaitable[R]],
                         request: Request = EMPTY_REQUEST) -> R:
        """``await fn(backend)`` on a picked backend."""
        async with self.attempt_async(request) as handle:
            return await fn(handle.backend)

    # -- active health checks ------------------------------------------------------------

    def report_health(self, backend: Backend | str, healthy: bool) -> None:
        """An active check's verdict for ``backend``, at the clock's time."""
        with self._lock:
            self.balancer.report_health(backend, healthy, self._clock())

    def check_health(self, probe: Callable[[Backend], bool]) -> dict[str, bool]:
        """Probe every backend once (in turn) and report each verdict; returns them."""
        verdicts: dict[str, bool] = {}
        for backend in self.balancer.pool.backends:
            try:
                healthy = bool(probe(backend))
            except Exception:  # noqa: BLE001 - any failure of the probe is a failed check
                healthy = False
            verdicts[backend.name] = healthy
            self._report_if_member(backend, healthy)
        return verdicts

    async def check_health_async(self, probe: Callable[[Backend], Awaitable[bool]], *,
                                 timeout_s: float = 2.0) -> dict[str, bool]:
        """Probe every backend at once, each within ``timeout_s``; report each verdict."""
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) \
                or not 0 < timeout_s <= HEALTH_PROBE_S_MAX or math.isnan(timeout_s):
            raise ValueError(f"timeout_s must be in (0, {HEALTH_PROBE_S_MAX}], "
                             f"got {timeout_s!r}")
        backends = self.balancer.pool.backends

        async def one(backend: Backend) -> bool:
            try:
                async with asyncio.timeout(timeout_s):
                    return bool(await probe(backend))
            except Exception:  # noqa: BLE001 - failure, refusal or timeout: not healthy
                return False

        results = await asyncio.gather(*(one(b) for b in backends))
        verdicts = {}
        for backend, healthy in zip(backends, results, strict=True):
            verdicts[backend.name] = healthy
            self._report_if_member(backend, healthy)
        return verdicts

    def _report_if_member(self, backend: Backend, healthy: bool) -> None:
        # The pool may have changed while the probe ran; a removed backend has no verdict.
        if backend.name in self.balancer.pool:
            self.report_health(backend, healthy)

    def __repr__(self) -> str:
        return f"Balanced({self.balancer!r})"
