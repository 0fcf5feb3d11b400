"""Bulkhead: bounded concurrency with a bounded, first-come-first-served wait queue.

Sans-IO: the core only counts. ``try_acquire`` takes a free slot; when none is free,
``enqueue`` hands out a ticket (or None when the queue is full too, which the caller turns
into ``BulkheadFullError``). ``release`` frees a slot; if someone is queued, the slot goes
straight to the oldest ticket, which ``release`` returns so the runtime can wake exactly
that waiter. A waiter that gives up calls ``cancel(ticket)``: True means it left the
queue; False means the slot was already handed to it and it must ``release`` it. Slots are
never lent past ``max_concurrent`` and the queue never grows past ``max_queued``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hld.core.resilience._check import check_int
from hld.core.resilience.errors import ResilienceConfigError
from hld.core.resilience.limits import BULKHEAD_CONCURRENCY_MAX, BULKHEAD_QUEUE_MAX

Ticket = int


@dataclass(frozen=True, slots=True)
class BulkheadStatistics:
    in_flight: int
    queued: int
    max_concurrent: int
    max_queued: int
    admitted_total: int
    rejected_total: int
    cancelled_total: int


class Bulkhead:
    """At most ``max_concurrent`` calls at once and ``max_queued`` waiting."""

    __slots__ = ("_admitted", "_cancelled", "_in_flight", "_max_concurrent", "_max_queued",
                 "_next_ticket", "_queue", "_rejected")

    def __init__(self, max_concurrent: int, max_queued: int = 0) -> None:
        self._max_concurrent = check_int("max_concurrent", max_concurrent, minimum=1,
                                         maximum=BULKHEAD_CONCURRENCY_MAX)
        self._max_queued = check_int("max_queued", max_queued, minimum=0,
                                     maximum=BULKHEAD_QUEUE_MAX)
        self._in_flight = 0
        # Insertion-ordered dict as a FIFO with O(1) removal from the middle (cancel).
        self._queue: dict[Ticket, None] = {}
        self._next_ticket = 0
        self._admitted = self._rejected = self._cancelled = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def queued(self) -> int:
        return len(self._queue)

    def try_acquire(self) -> bool:
        """Take a slot now if one is free (and nobody queued ahead)."""
        if self._in_flight < self._max_concurrent and not self._queue:
            self._in_flight += 1
            self._admitted += 1
            return True
        return False

    def enqueue(self) -> Ticket | None:
        """Join the wait queue; None (counted as rejected) when it is full."""
        if len(self._queue) >= self._max_queued:
            self._rejected += 1
            return None
        ticket = self._next_ticket
        self._next_ticket += 1
        self._queue[ticket] = None
        return ticket

    def reject(self) -> None:
        """Count a call turned away without queueing (no queue wanted, or no time)."""
        self._rejected += 1

    def release(self) -> Ticket | None:
        """Free a slot; returns the ticket it was handed to, if someone was waiting."""
        if self._in_flight <= 0:
            raise ResilienceConfigError("bulkhead released more often than acquired")
        if self._queue:
            ticket = next(iter(self._queue))
            del self._queue[ticket]
            self._admitted += 1
            return ticket  # the slot changes hands; in_flight is unchanged
        self._in_flight -= 1
        return None

    def cancel(self, ticket: Ticket) -> bool:
        """Leave the queue. False: the ticket already holds a slot and must release it."""
        if ticket in self._queue:
            del self._queue[ticket]
            self._cancelled += 1
            return True
        return False

    def statistics(self) -> BulkheadStatistics:
        return BulkheadStatistics(self._in_flight, len(self._queue), self._max_concurrent,
                                  self._max_queued, self._admitted, self._rejected,
                                  self._cancelled)
