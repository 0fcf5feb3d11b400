"""Redelivery after a visibility timeout, and dead-lettering after too many deliveries.

A worker that crashes leaves its entries pending. Once an entry has been idle longer
than the visibility timeout another worker claims it (XAUTOCLAIM/XCLAIM), which counts
one more delivery. An entry delivered ``max_deliveries`` times is poison: rather than
crash workers forever it is copied to a dead-letter stream, with where it came from and
how often it was tried, and acknowledged in its group.

The policy is pure: :func:`plan_redelivery` sorts pending entries into retry and dead;
:func:`dead_letter_commands` spells the move as the commands a worker sends (in one
MULTI, so the copy and the ack happen together); :func:`move_to_dead_letter` performs it
on in-process streams.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hld.core.stream.ids import format_id
from hld.core.stream.stream import ConsumerGroup, Fields, Stream

# Field names added to a dead-lettered entry, after its own fields.
FIELD_SOURCE_STREAM = b"dlq-source-stream"
FIELD_SOURCE_GROUP = b"dlq-source-group"
FIELD_SOURCE_ID = b"dlq-source-id"
FIELD_DELIVERIES = b"dlq-deliveries"


@dataclass(frozen=True, slots=True)
class PendingInfo:
    """What a worker learns of a pending entry from XPENDING's extended form."""

    entry_id: int
    idle_ms: int
    delivery_count: int


@dataclass(frozen=True, slots=True)
class RedeliveryPlan:
    retry_ids: list[int]
    dead_ids: list[int]


def plan_redelivery(pending: Iterable[PendingInfo], *, visibility_timeout_ms: int,
                    max_deliveries: int) -> RedeliveryPlan:
    """Entries idle past the timeout: retried, or dead once delivered ``max_deliveries``."""
    if visibility_timeout_ms < 0:
        raise ValueError(f"visibility_timeout_ms must be >= 0, got {visibility_timeout_ms}")
    if max_deliveries < 1:
        raise ValueError(f"max_deliveries must be at least 1, got {max_deliveries}")
    retry: list[int] = []
    dead: list[int] = []
    for info in pending:
        if info.idle_ms < visibility_timeout_ms:
            continue
        (dead if info.delivery_count >= max_deliveries else retry).append(info.entry_id)
    return RedeliveryPlan(retry, dead)


def dead_letter_fields(fields: Fields, *, source_stream: bytes, group: bytes, entry_id: int,
                       delivery_count: int) -> Fields:
    return (*fields, FIELD_SOURCE_STREAM, source_stream, FIELD_SOURCE_GROUP, group,
            FIELD_SOURCE_ID, format_id(entry_id), FIELD_DELIVERIES, b"%d" % delivery_count)


def dead_letter_commands(*, source_stream: bytes, group: bytes, dead_stream: bytes,
                         entry_id: int, fields: Fields, delivery_count: int,
                         ) -> list[list[bytes]]:
    """XADD to the dead-letter stream, then XACK in the source group (send in MULTI)."""
    moved = dead_letter_fields(fields, source_stream=source_stream, group=group,
                               entry_id=entry_id, delivery_count=delivery_count)
    return [[b"XADD", dead_stream, b"*", *moved],
            [b"XACK", source_stream, group, format_id(entry_id)]]


def move_to_dead_letter(source_stream: bytes, group: ConsumerGroup, entry_id: int,
                        dead: Stream, *, now_ms: int) -> int | None:
    """Copy a pending entry to ``dead`` and take it out of the group's PEL.

    Returns the new ID in ``dead``; None (and the entry is simply dropped from the PEL)
    when the entry was deleted from the source stream meanwhile.
    """
    pending = group.dead_letter(entry_id)
    fields = group.stream.get(entry_id)
    if fields is None:
        return None
    moved = dead_letter_fields(fields, source_stream=source_stream, group=group.name,
                               entry_id=entry_id, delivery_count=pending.delivery_count)
    return dead.add(moved, now_ms=now_ms)
