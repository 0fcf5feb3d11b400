"""The life of one entry in one consumer group, as a transition table.

An entry is NEW to a group until it is delivered with ``>``; delivery makes it PENDING
(in the group's pending entries list, owned by one consumer) unless NOACK makes it ACKED
at once. A pending entry can be delivered again (history read), claimed by another
consumer (XCLAIM/XAUTOCLAIM), acknowledged (XACK), dropped (its consumer was deleted or
the entry was deleted from the stream) or moved to a dead-letter stream after too many
deliveries. XCLAIM FORCE may make any entry still in the stream pending again.

The table is the whole policy: group code asks :func:`next_state` before it mutates
anything, so an illegal move raises and leaves the group unchanged. ``mermaid()`` renders
the same table for documentation.
"""

from __future__ import annotations

from enum import Enum


class Delivery(Enum):
    NEW = "new"
    PENDING = "pending"
    ACKED = "acked"
    DEAD = "dead"


class Event(Enum):
    DELIVER = "deliver"
    DELIVER_NOACK = "deliver_noack"
    REDELIVER = "redeliver"
    CLAIM = "claim"
    FORCE_CLAIM = "force_claim"
    ACK = "ack"
    DROP = "drop"
    DEAD_LETTER = "dead_letter"


TRANSITIONS: dict[tuple[Delivery, Event], Delivery] = {
    (Delivery.NEW, Event.DELIVER): Delivery.PENDING,
    (Delivery.NEW, Event.DELIVER_NOACK): Delivery.ACKED,
    (Delivery.NEW, Event.FORCE_CLAIM): Delivery.PENDING,
    # Only after XGROUP SETID moved the cursor back over entries still pending: `>`
    # hands such an entry over afresh (NOACK leaves it pending as it was), as Redis does.
    (Delivery.PENDING, Event.DELIVER): Delivery.PENDING,
    (Delivery.PENDING, Event.DELIVER_NOACK): Delivery.PENDING,
    (Delivery.PENDING, Event.REDELIVER): Delivery.PENDING,
    (Delivery.PENDING, Event.CLAIM): Delivery.PENDING,
    (Delivery.PENDING, Event.FORCE_CLAIM): Delivery.PENDING,
    (Delivery.PENDING, Event.ACK): Delivery.ACKED,
    (Delivery.PENDING, Event.DROP): Delivery.ACKED,
    (Delivery.PENDING, Event.DEAD_LETTER): Delivery.DEAD,
    (Delivery.ACKED, Event.FORCE_CLAIM): Delivery.PENDING,
}


class IllegalTransition(Exception):  # noqa: N818 - reads as the domain term
    """Our own misuse: the group tried a move the table does not allow."""

    def __init__(self, state: Delivery, event: Event) -> None:
        super().__init__(f"cannot {event.value} an entry that is {state.value}")
        self.state = state
        self.event = event


def next_state(state: Delivery, event: Event) -> Delivery:
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(state, event) from None


def mermaid() -> str:
    """The transition table as a Mermaid state diagram."""
    lines = ["stateDiagram-v2", "    [*] --> new"]
    for (state, event), target in TRANSITIONS.items():
        lines.append(f"    {state.value} --> {target.value}: {event.value}")
    return "\n".join(lines)
