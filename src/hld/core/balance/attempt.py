"""A synchronous helper that runs one call through a balancer's whole lifecycle.

``with attempt(balancer, request, clock=time.monotonic) as a: call(a.backend)`` picks,
marks the request in flight, and reports latency and outcome when the block ends: an
exception is a failure (and propagates); ``a.fail()`` marks a failure without raising,
for answers such as a 503 that come back normally. The clock is a parameter because the
core owns no time; the runtime passes its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hld.core.balance.base import EMPTY_REQUEST, Backend, Balancer, Request


class Attempt:
    """One request's handle: the chosen backend and whether it went well."""

    __slots__ = ("backend", "ok")

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.ok = True

    def fail(self) -> None:
        """Count this attempt as the backend's failure even though nothing raised."""
        self.ok = False


@contextmanager
def attempt(balancer: Balancer, request: Request = EMPTY_REQUEST, *,
            clock: Callable[[], float]) -> Iterator[Attempt]:
    """Pick, start, and finish one request around the ``with`` block."""
    started_s = clock()
    handle = Attempt(balancer.pick(request, started_s))
    balancer.on_start(handle.backend)
    try:
        yield handle
    except BaseException:
        handle.ok = False
        raise
    finally:
        ended_s = clock()
        balancer.on_finish(handle.backend, max(0.0, ended_s - started_s), ok=handle.ok,
                           now=ended_s)
