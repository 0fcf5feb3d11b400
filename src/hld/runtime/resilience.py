"""Sync and asyncio shells over hld.core.resilience: decorators and context managers.

- ``Breaker``: ``@breaker`` on a sync or async function, or ``with breaker.guard()`` /
  ``async with breaker.guard_async()``; refused calls raise ``CircuitOpenError``.
- ``retry(policy, budget)``: ``@retry(...)`` on a sync or async function; backs off with
  the policy's delays, stops when attempts or the budget are spent, and never sleeps past
  the current deadline (it raises ``DeadlineExceeded`` at once instead).
- ``AsyncBulkhead`` / ``ThreadBulkhead``: ``async with bulkhead:`` / ``with bulkhead:``
  (or ``@bulkhead``) waits in the core's bounded FIFO queue.
- ``deadline(timeout_s)``: ``with``/``async with``; sets the context's deadline to
  min(parent, now + timeout) in a ContextVar, so it follows the call across awaits and
  tasks; ``async with`` also cancels the body when the deadline passes.
- ``fallback(Fallback)``: returns the fallback value for the covered errors.

Time comes from an injectable ``clock`` (default ``time.monotonic``) and waiting from an
injectable ``sleep``/``async_sleep``, so tests run on a manual clock and take no time. The
success path of ``@breaker`` and ``@retry`` is a few attribute reads and one or two clock
reads: no allocation beyond the call itself.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, cast, overload

from hld.core.resilience import (
    BreakerConfig,
    Bulkhead,
    BulkheadFullError,
    CircuitBreaker,
    CircuitOpenError,
    Deadline,
    DeadlineExceeded,
    Fallback,
    ResilienceConfigError,
    RetryBudget,
    RetryBudgetExhausted,
    RetryPolicy,
)
from hld.core.resilience.bulkhead import Ticket
from hld.core.resilience.deadline import earliest

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

Clock = Callable[[], float]
Sleep = Callable[[float], None]
AsyncSleep = Callable[[float], Awaitable[None]]
ExcTypes = tuple[type[BaseException], ...]

_DEADLINE: ContextVar[Deadline | None] = ContextVar("hld_deadline", default=None)


def _exception_types(name: str, types: ExcTypes) -> ExcTypes:
    """Refuse at decoration time what ``except`` would only refuse at the first failure."""
    if not isinstance(types, tuple) or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in types):
        raise ResilienceConfigError(f"{name} must be a tuple of exception classes, got {types!r}")
    return types


# -- deadlines ---------------------------------------------------------------------------

def current_deadline() -> Deadline | None:
    """The deadline of the call being served, if any."""
    return _DEADLINE.get()


def remaining_s(clock: Clock = time.monotonic) -> float | None:
    """Seconds left before the current deadline (None without one)."""
    dl = _DEADLINE.get()
    return None if dl is None else dl.remaining_s(clock())


def check_deadline(clock: Clock = time.monotonic) -> None:
    """Raise ``DeadlineExceeded`` if the current deadline has passed."""
    dl = _DEADLINE.get()
    if dl is not None:
        dl.check(clock())


class deadline:  # noqa: N801 - used like a function: ``with deadline(2.0):``
    """Scope a deadline: min(parent, now + timeout_s); refuses to start if already past.

    ``with`` only propagates the deadline (code inside checks it cooperatively, as
    ``@retry`` and ``AsyncBulkhead`` do). ``async with`` also cancels the body when the
    budget runs out: the remaining time is read from ``clock`` on entry and handed to
    the event loop's timer, so a manual clock decides the budget, the loop the wait.
    """

    def __init__(self, timeout_s: float | None = None, *, at: Deadline | None = None,
                 clock: Clock = time.monotonic) -> None:
        self._timeout_s = timeout_s
        self._at = at
        self._clock = clock
        self._tokens: list[Token[Deadline | None]] = []
        self._timeouts: list[asyncio.Timeout] = []

    def _enter(self) -> Deadline:
        now = self._clock()
        parent = _DEADLINE.get()
        if parent is not None:
            parent.check(now)
        own = self._at
        if self._timeout_s is not None:
            own = earliest(own, Deadline.after(self._timeout_s, now))
        child = earliest(parent, own)
        if child is None:
            raise ResilienceConfigError("deadline() needs timeout_s or an absolute deadline")
        child.check(now)
        self._tokens.append(_DEADLINE.set(child))
        return child

    def __enter__(self) -> Deadline:
        return self._enter()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        _DEADLINE.reset(self._tokens.pop())

    async def __aenter__(self) -> Deadline:
        child = self._enter()
        scope = asyncio.timeout(child.remaining_s(self._clock()))
        try:
            await scope.__aenter__()
        except BaseException:
            _DEADLINE.reset(self._tokens.pop())
            raise
        self._timeouts.append(scope)
        return child

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        scope = self._timeouts.pop()
        try:
            await scope.__aexit__(et, ev, tb)
        except TimeoutError as exc:
            raise DeadlineExceeded("deadline passed while the call was running") from exc
        finally:
            _DEADLINE.reset(self._tokens.pop())


# -- circuit breaker ---------------------------------------------------------------------

class Breaker:
    """A circuit breaker for sync and async callables (see ``hld.core.resilience.breaker``).

    Exceptions in ``failure_on`` count as failures; those in ``ignore_on`` (checked first)
    and non-Exception BaseExceptions (cancellation, KeyboardInterrupt) hand the permit
    back without a verdict. Not locked: share one across threads only if approximate
    counts are acceptable; asyncio tasks on one loop are fine.
    """

    def __init__(self, config: BreakerConfig | None = None, *, clock: Clock = time.monotonic,
                 failure_on: ExcTypes = (Exception,), ignore_on: ExcTypes = ()) -> None:
        self.core = CircuitBreaker(config)
        self._clock = clock
        self._failure_on = _exception_types("failure_on", failure_on)
        self._ignore_on = _exception_types("ignore_on", ignore_on)

    def _refused(self) -> CircuitOpenError:
        core = self.core
        return CircuitOpenError(f"circuit is {core.state.value}; call not permitted")

    def _failed(self, exc: BaseException, start: float) -> None:
        end = self._clock()
        if isinstance(exc, self._ignore_on) or not isinstance(exc, self._failure_on):
            self.core.release(end)
        else:
            self.core.on_failure(end - start, end)

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        core = self.core
        clock = self._clock
        if inspect.iscoroutinefunction(fn):
            afn = fn

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                start = clock()
                if not core.closed and not core.try_acquire(start):
                    raise self._refused()
                try:
                    result = await afn(*args, **kwargs)
                except BaseException as exc:
                    self._failed(exc, start)
                    raise
                end = clock()
                core.on_success(end - start, end)
                return result

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            start = clock()
            if not core.closed and not core.try_acquire(start):
                raise self._refused()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self._failed(exc, start)
                raise
            end = clock()
            core.on_success(end - start, end)
            return result

        return wrapper

    @contextmanager
    def guard(self) -> Iterator[None]:
        """``with breaker.guard(): ...`` protects a block."""
        start = self._clock()
        if not self.core.try_acquire(start):
            raise self._refused()
        try:
            yield
        except BaseException as exc:
            self._failed(exc, start)
            raise
        end = self._clock()
        self.core.on_success(end - start, end)

    @asynccontextmanager
    async def guard_async(self) -> AsyncIterator[None]:
        """``async with breaker.guard_async(): ...`` protects a block."""
        with self.guard():
            yield


# -- retry -------------------------------------------------------------------------------

def retry(policy: RetryPolicy, budget: RetryBudget | None = None, *,
          retry_on: ExcTypes = (Exception,), rng: random.Random | None = None,
          clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
          async_sleep: AsyncSleep = asyncio.sleep) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Retry a sync or async callable on ``retry_on`` errors, as ``policy`` and ``budget``
    allow. The last error propagates when attempts are spent; ``RetryBudgetExhausted``
    (from the last error) when the budget is; ``DeadlineExceeded`` when the next attempt
    could not start before the current deadline."""
    retry_on = _exception_types("retry_on", retry_on)
    if not retry_on:
        raise ResilienceConfigError("retry_on is empty: nothing would ever be retried")
    rand = rng if rng is not None else random.Random()
    first_delay_s = policy.backoff.base_s

    def next_delay(exc: BaseException, failures: int, previous_s: float) -> float:
        delay = policy.next_delay_s(failures, previous_s, rand)
        if delay is None:
            raise exc
        if budget is not None and not budget.try_retry(clock()):
            raise RetryBudgetExhausted(
                f"retry budget spent after {failures} attempt(s); last error: {exc!r}") from exc
        dl = _DEADLINE.get()
        if dl is not None and clock() + delay >= dl.at_s:
            raise DeadlineExceeded(
                f"next attempt would start after the deadline; last error: {exc!r}") from exc
        return delay

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        if inspect.iscoroutinefunction(fn):
            afn = fn

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                if budget is not None:
                    budget.record_request(clock())
                failures = 0
                previous_s = first_delay_s
                while True:
                    dl = _DEADLINE.get()
                    if dl is not None:
                        dl.check(clock())
                    try:
                        return await afn(*args, **kwargs)
                    except retry_on as exc:
                        failures += 1
                        previous_s = next_delay(exc, failures, previous_s)
                    await async_sleep(previous_s)

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if budget is not None:
                budget.record_request(clock())
            dl = _DEADLINE.get()
            if dl is not None:
                dl.check(clock())
            try:
                return fn(*args, **kwargs)
            except retry_on as exc:
                return again(exc, fn, args, kwargs)

        def again(exc: BaseException, fn: Callable[P, R], args: Any, kwargs: Any) -> R:
            failures = 1
            previous_s = next_delay(exc, failures, first_delay_s)
            while True:
                sleep(previous_s)
                dl = _DEADLINE.get()
                if dl is not None:
                    dl.check(clock())
                try:
                    return fn(*args, **kwargs)
                except retry_on as err:
                    failures += 1
                    previous_s = next_delay(err, failures, previous_s)

        return wrapper

    return decorate


# -- bulkhead ----------------------------------------------------------------------------

class AsyncBulkhead:
    """``async with bulkhead:`` — at most ``max_concurrent`` bodies at once, ``max_queued``
    waiting in FIFO order, each waiting at most ``max_wait_s`` (and never past the current
    deadline); beyond that ``BulkheadFullError``."""

    def __init__(self, max_concurrent: int, max_queued: int = 0, *,
                 max_wait_s: float | None = None, clock: Clock = time.monotonic) -> None:
        if max_wait_s is not None and not max_wait_s >= 0:
            raise ResilienceConfigError(f"max_wait_s must be >= 0 or None, got {max_wait_s}")
        self.core = Bulkhead(max_concurrent, max_queued)
        self._max_wait_s = max_wait_s
        self._clock = clock
        self._waiters: dict[Ticket, asyncio.Future[None]] = {}

    async def acquire(self) -> None:
        core = self.core
        if core.try_acquire():
            return
        wait_s = self._max_wait_s
        dl = _DEADLINE.get()
        if dl is not None:
            left = dl.remaining_s(self._clock())
            wait_s = left if wait_s is None or left < wait_s else wait_s
        if wait_s == 0:
            core.reject()
            raise BulkheadFullError("bulkhead full and no time to wait")
        ticket = core.enqueue()
        if ticket is None:
            raise BulkheadFullError(
                f"bulkhead full: {core.in_flight} in flight and {core.queued} queued")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[ticket] = future
        try:
            async with asyncio.timeout(wait_s):
                await future
        except BaseException as exc:
            self._waiters.pop(ticket, None)
            if not core.cancel(ticket):
                self.release()  # the slot reached us as we gave up: pass it on
            if isinstance(exc, TimeoutError):
                raise BulkheadFullError(f"waited {wait_s}s for a bulkhead slot") from exc
            raise

    def release(self) -> None:
        ticket = self.core.release()
        if ticket is not None:
            future = self._waiters.pop(ticket, None)
            if future is not None and not future.done():
                future.set_result(None)
            # Otherwise the waiter is unwinding; its handler sees cancel() fail and
            # releases the slot again.

    async def __aenter__(self) -> None:
        await self.acquire()

    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]]
                 ) -> Callable[P, Coroutine[Any, Any, R]]:
        """``@bulkhead`` on a coroutine function."""
        if not inspect.iscoroutinefunction(fn):
            raise ResilienceConfigError("AsyncBulkhead decorates coroutine functions; "
                                        "use ThreadBulkhead for plain functions")

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            async with self:
                return await fn(*args, **kwargs)

        return wrapper

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.release()


class ThreadBulkhead:
    """``with bulkhead:`` for threads — the synchronous twin of ``AsyncBulkhead``: at most
    ``max_concurrent`` bodies at once, ``max_queued`` threads waiting in FIFO order, each
    waiting at most ``max_wait_s`` (and never past the current deadline); beyond that
    ``BulkheadFullError``. Also a decorator: ``@bulkhead`` on a function.

    One lock guards the core; a waiting thread sleeps on its own ``threading.Event``, set
    by the ``release`` that hands it the slot, so wake-ups are exact and FIFO.
    """

    def __init__(self, max_concurrent: int, max_queued: int = 0, *,
                 max_wait_s: float | None = None, clock: Clock = time.monotonic) -> None:
        if max_wait_s is not None and not max_wait_s >= 0:
            raise ResilienceConfigError(f"max_wait_s must be >= 0 or None, got {max_wait_s}")
        self.core = Bulkhead(max_concurrent, max_queued)
        self._max_wait_s = max_wait_s
        self._clock = clock
        self._lock = threading.Lock()
        self._waiters: dict[Ticket, threading.Event] = {}

    def acquire(self) -> None:
        core = self.core
        with self._lock:
            if core.try_acquire():
                return
            wait_s = self._max_wait_s
            dl = _DEADLINE.get()
            if dl is not None:
                left = dl.remaining_s(self._clock())
                wait_s = left if wait_s is None or left < wait_s else wait_s
            if wait_s == 0:
                core.reject()
                raise BulkheadFullError("bulkhead full and no time to wait")
            ticket = core.enqueue()
            if ticket is None:
                raise BulkheadFullError(
                    f"bulkhead full: {core.in_flight} in flight and {core.queued} queued")
            event = self._waiters[ticket] = threading.Event()
        if event.wait(wait_s):
            return
        with self._lock:
            self._waiters.pop(ticket, None)
            if core.cancel(ticket):
                raise BulkheadFullError(f"waited {wait_s}s for a bulkhead slot")
        # The slot was handed to us as the wait ran out: keep it rather than bounce it.

    def release(self) -> None:
        with self._lock:
            ticket = self.core.release()
            if ticket is not None:
                event = self._waiters.pop(ticket, None)
                if event is not None:
                    event.set()
                # Otherwise the waiter timed out and is about to find cancel() False:
                # it keeps the slot.

    def __enter__(self) -> None:
        self.acquire()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with self:
                return fn(*args, **kwargs)

        return wrapper


# -- fallback ----------------------------------------------------------------------------

class fallback(Generic[T]):  # noqa: N801 - used like a function: ``@fallback(fb)``
    """Return ``fb``'s value instead of raising the errors it covers (sync or async)."""

    def __init__(self, fb: Fallback[T]) -> None:
        self._on = fb.on
        self._handler = fb.handler

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, T]]
                 ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    @overload
    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]: ...

    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        on, handler = self._on, self._handler
        if inspect.iscoroutinefunction(fn):
            afn = fn

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                try:
                    return await afn(*args, **kwargs)
                except on as exc:
                    return handler(exc)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                return fn(*args, **kwargs)
            except on as exc:
                return handler(exc)

        return wrapper
