"""The stream type: an append-only log of field/value entries with consumer groups.

Storage is two parallel arrays, entry IDs (packed ints, see ``ids``) and flat field
tuples, read from a moving ``head`` index. Appends are O(1); ranges and lookups bisect
the ID array; trimming the oldest k entries moves the head (O(k) amortised, the dead
prefix is compacted in one slice when it has grown to half the array); XDEL removes from
the middle with one C-level memmove. This is far lighter than a tree of nodes in Python
and keeps the per-entry cost to one int and one tuple.

A consumer group keeps its pending entries list (PEL) twice: a dict by ID for O(1)
acknowledge and claim, and a sorted ID array for XPENDING/XAUTOCLAIM ranges. Every change
of an entry's delivery state goes through the table in ``deliveries``. Time arrives as
``now_ms`` (milliseconds, the unit of stream IDs and idle times) from the caller.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hld.core.stream import limits
from hld.core.stream.deliveries import Delivery, Event, next_state
from hld.core.stream.errors import ERR_BUSYGROUP, StreamError
from hld.core.stream.ids import ID_MAX, ID_MIN, MS_MAX, SEQ_BITS, next_add_id

Fields = tuple[bytes, ...]

# Approximate bytes of one entry beyond its field bytes: the ID int, the fields tuple, two
# array slots, and a bytes header per field (measured with sys.getsizeof).
ENTRY_BYTES_OVERHEAD = 120
FIELD_BYTES_OVERHEAD = 33


def entry_bytes(fields: Fields) -> int:
    return (ENTRY_BYTES_OVERHEAD + FIELD_BYTES_OVERHEAD * len(fields)
            + sum(map(len, fields)))
Entry = tuple[int, Fields]
# A history read may name an entry deleted since its delivery: its fields are None.
MaybeEntry = tuple[int, Fields | None]


class Consumer:
    """One consumer of a group and its own view of the pending entries it owns."""

    __slots__ = ("name", "pending", "seen_time_ms")

    def __init__(self, name: bytes, now_ms: int) -> None:
        self.name = name
        self.seen_time_ms = now_ms
        self.pending: dict[int, PendingEntry] = {}


class PendingEntry:
    """A delivered, not yet acknowledged entry: owner, last delivery time, deliveries."""

    __slots__ = ("consumer", "delivery_count", "delivery_time_ms")

    def __init__(self, consumer: Consumer, delivery_time_ms: int, delivery_count: int) -> None:
        self.consumer = consumer
        self.delivery_time_ms = delivery_time_ms
        self.delivery_count = delivery_count


@dataclass(frozen=True, slots=True)
class PendingSummary:
    count: int
    first_id: int | None
    last_id: int | None
    per_consumer: list[tuple[bytes, int]]


@dataclass(frozen=True, slots=True)
class PendingDetail:
    entry_id: int
    consumer: bytes
    idle_ms: int
    delivery_count: int


@dataclass(frozen=True, slots=True)
class AutoClaimResult:
    next_id: int
    claimed: list[MaybeEntry]
    deleted_ids: list[int]


class ConsumerGroup:
    """A named cursor over a stream plus the entries it delivered and awaits acks for."""

    def __init__(self, stream: Stream, name: bytes, last_id: int,
                 entries_read: int | None) -> None:
        self.stream = stream
        self.name = name
        self.last_id = last_id
        # None is Redis's "invalid" counter: lag must then be estimated or reported unknown.
        self.entries_read = entries_read
        self.pel: dict[int, PendingEntry] = {}
        self._pel_ids: list[int] = []
        self.consumers: dict[bytes, Consumer] = {}

    # -- delivery states -------------------------------------------------------------

    def state_of(self, entry_id: int) -> Delivery:
        if entry_id in self.pel:
            return Delivery.PENDING
        if entry_id > self.last_id:
            return Delivery.NEW
        return Delivery.ACKED

    def _pel_add(self, entry_id: int, pending: PendingEntry) -> None:
        self.pel[entry_id] = pending
        ids = self._pel_ids
        if not ids or ids[-1] < entry_id:
            ids.append(entry_id)
        else:
            insort(ids, entry_id)
        pending.consumer.pending[entry_id] = pending

    def restore_pending(self, entry_id: int, pending: PendingEntry) -> None:
        """Put back a pending entry as a snapshot recorded it (owner already restored)."""
        self._pel_add(entry_id, pending)

    def _pel_remove(self, entry_id: int) -> PendingEntry:
        pending = self.pel.pop(entry_id)
        ids = self._pel_ids
        del ids[bisect_left(ids, entry_id)]
        del pending.consumer.pending[entry_id]
        return pending

    def _move(self, entry_id: int, pending: PendingEntry, consumer: Consumer) -> None:
        if pending.consumer is not consumer:
            del pending.consumer.pending[entry_id]
            pending.consumer = consumer
            consumer.pending[entry_id] = pending

    # -- consumers -------------------------------------------------------------------

    def consumer(self, name: bytes, now_ms: int) -> Consumer:
        """The consumer called ``name``, created on first use; marks it seen now."""
        found = self.consumers.get(name)
        if found is None:
            found = self.consumers[name] = Consumer(name, now_ms)
        else:
            found.seen_time_ms = now_ms
        return found

    def create_consumer(self, name: bytes, now_ms: int) -> bool:
        if name in self.consumers:
            return False
        self.consumers[name] = Consumer(name, now_ms)
        return True

    def delete_consumer(self, name: bytes) -> int:
        """Forget a consumer; its pending entries are dropped. Returns how many it had."""
        found = self.consumers.get(name)
        if found is None:
            return 0
        owned = list(found.pending)
        for entry_id in owned:
            next_state(Delivery.PENDING, Event.DROP)
            self._pel_remove(entry_id)
        del self.consumers[name]
        return len(owned)

    # -- reading ---------------------------------------------------------------------

    def read_new(self, consumer_name: bytes, count: int, *, noack: bool,
                 now_ms: int) -> list[Entry]:
        """XREADGROUP with ``>``: entries after the group's cursor, made pending.

        As Redis 7.0.15, the consumer is created only when there is something to deliver.
        """
        entries = self.stream.after(self.last_id, count)
        if not entries:
            return entries
        consumer = self.consumer(consumer_name, now_ms)
        event = Event.DELIVER_NOACK if noack else Event.DELIVER
        for entry_id, _ in entries:
            state = self.state_of(entry_id)
            next_state(state, event)
            self._advance(entry_id)
            if noack:
                continue
            existing = self.pel.get(entry_id)
            if existing is None:
                self._pel_add(entry_id, PendingEntry(consumer, now_ms, 1))
            else:
                # Only after SETID moved the cursor back: the entry changes hands afresh.
                self._move(entry_id, existing, consumer)
                existing.delivery_time_ms = now_ms
                existing.delivery_count = 1
        return entries

    def _advance(self, entry_id: int) -> None:
        stream = self.stream
        if self.entries_read is not None and not stream.has_tombstones_from(entry_id):
            self.entries_read += 1
        elif stream.entries_added:
            self.entries_read = stream.estimate_entries_read(entry_id)
        self.last_id = entry_id

    def read_history(self, consumer_name: bytes, after_id: int, count: int,
                     *, now_ms: int) -> list[MaybeEntry]:
        """XREADGROUP with an ID: this consumer's pending entries after ``after_id``."""
        consumer = self.consumer(consumer_name, now_ms)
        owned = sorted(consumer.pending)
        start = bisect_right(owned, after_id)
        stop = len(owned) if count <= 0 else min(len(owned), start + count)
        result: list[MaybeEntry] = []
        for entry_id in owned[start:stop]:
            fields = self.stream.get(entry_id)
            if fields is not None:
                next_state(Delivery.PENDING, Event.REDELIVER)
                pending = consumer.pending[entry_id]
                pending.delivery_time_ms = now_ms
                pending.delivery_count += 1
            result.append((entry_id, fields))
        return result

    # -- acknowledging and inspecting -------------------------------------------------

    def ack(self, entry_ids: Iterable[int]) -> int:
        acked = 0
        for entry_id in entry_ids:
            if entry_id in self.pel:
                next_state(Delivery.PENDING, Event.ACK)
                self._pel_remove(entry_id)
                acked += 1
        return acked

    def dead_letter(self, entry_id: int) -> PendingEntry:
        """Take a pending entry out of the PEL because it goes to a dead-letter stream."""
        next_state(self.state_of(entry_id), Event.DEAD_LETTER)
        return self._pel_remove(entry_id)

    def pending_summary(self) -> PendingSummary:
        ids = self._pel_ids
        if not ids:
            return PendingSummary(0, None, None, [])
        per_consumer = sorted(
            (c.name, len(c.pending)) for c in self.consumers.values() if c.pending)
        return PendingSummary(len(ids), ids[0], ids[-1], per_consumer)

    def pending_range(self, start: int, end: int, count: int, *, now_ms: int,
                      min_idle_ms: int = 0, consumer: bytes | None = None,
                      ) -> list[PendingDetail]:
        if count <= 0 or start > end:
            return []
        if consumer is not None:
            owner = self.consumers.get(consumer)
            if owner is None:
                return []
            ids: Sequence[int] = sorted(owner.pending)
        else:
            ids = self._pel_ids
        result: list[PendingDetail] = []
        index = bisect_left(ids, start)
        while index < len(ids) and len(result) < count:
            entry_id = ids[index]
            index += 1
            if entry_id > end:
                break
            pending = self.pel[entry_id]
            idle_ms = max(0, now_ms - pending.delivery_time_ms)
            if idle_ms < min_idle_ms:
                continue
            result.append(PendingDetail(entry_id, pending.consumer.name, idle_ms,
                                        pending.delivery_count))
        return result

    # -- claiming --------------------------------------------------------------------

    def claim(self, consumer_name: bytes, min_idle_ms: int, entry_ids: Sequence[int], *,
              now_ms: int, delivery_time_ms: int | None = None,
              retry_count: int | None = None, force: bool = False, justid: bool = False,
              last_id: int | None = None) -> list[MaybeEntry]:
        """XCLAIM: take pending entries idle at least ``min_idle_ms`` for ``consumer``.

        Entries deleted from the stream are dropped from the PEL and not returned (as
        Redis 7 does). FORCE creates a PEL entry for an entry that exists but is not
        pending. ``delivery_time_ms`` comes from IDLE/TIME; out of range means now. The
        consumer is created only if something is claimed (as Redis 7.0.15 does).
        """
        consumer: Consumer | None = None
        if delivery_time_ms is None or delivery_time_ms < 0 or delivery_time_ms > now_ms:
            delivery_time_ms = now_ms
        if last_id is not None and last_id > self.last_id:
            self.last_id = last_id
        stream = self.stream
        result: list[MaybeEntry] = []
        for entry_id in entry_ids:
            pending = self.pel.get(entry_id)
            fields = stream.get(entry_id)
            if fields is None:
                if pending is not None:
                    next_state(Delivery.PENDING, Event.DROP)
                    self._pel_remove(entry_id)
                continue
            if pending is None:
                if not force:
                    continue
                next_state(self.state_of(entry_id), Event.FORCE_CLAIM)
                consumer = consumer or self.consumer(consumer_name, now_ms)
                pending = PendingEntry(consumer, delivery_time_ms, 0)
                self._pel_add(entry_id, pending)
            else:
                if min_idle_ms and now_ms - pending.delivery_time_ms < min_idle_ms:
                    continue
                next_state(Delivery.PENDING, Event.CLAIM)
                consumer = consumer or self.consumer(consumer_name, now_ms)
                self._move(entry_id, pending, consumer)
            pending.delivery_time_ms = delivery_time_ms
            if retry_count is not None:
                pending.delivery_count = retry_count
            elif not justid:
                pending.delivery_count += 1
            result.append((entry_id, None if justid else fields))
        return result

    def autoclaim(self, consumer_name: bytes, min_idle_ms: int, start: int, count: int, *,
                  now_ms: int, justid: bool = False) -> AutoClaimResult:
        """XAUTOCLAIM: scan the PEL from ``start`` and claim up to ``count`` idle entries.

        At most ``count * AUTOCLAIM_ATTEMPTS_FACTOR`` PEL entries are examined, so one
        call is bounded however long the PEL; the returned cursor resumes the scan.
        Entries found deleted are dropped from the PEL, reported, and count against
        ``count`` (Redis 7.0's behaviour).
        """
        consumer: Consumer | None = None  # created on the first claim, as Redis 7.0.15
        attempts = count * limits.AUTOCLAIM_ATTEMPTS_FACTOR
        ids = self._pel_ids
        index = bisect_left(ids, start)
        claimed: list[MaybeEntry] = []
        deleted: list[int] = []
        stream = self.stream
        while attempts > 0 and count > 0 and index < len(ids):
            attempts -= 1
            entry_id = ids[index]
            fields = stream.get(entry_id)
            if fields is None:
                next_state(Delivery.PENDING, Event.DROP)
                self._pel_remove(entry_id)  # the array shifts: index now names the next
                deleted.append(entry_id)
                count -= 1  # as Redis 7.0 does: a deleted entry uses up the COUNT too
                continue
            index += 1
            pending = self.pel[entry_id]
            if min_idle_ms and now_ms - pending.delivery_time_ms < min_idle_ms:
                continue
            next_state(Delivery.PENDING, Event.CLAIM)
            consumer = consumer or self.consumer(consumer_name, now_ms)
            self._move(entry_id, pending, consumer)
            pending.delivery_time_ms = now_ms
            if not justid:
                pending.delivery_count += 1
            claimed.append((entry_id, None if justid else fields))
            count -= 1
        next_id = ids[index] if index < len(ids) else ID_MIN
        return AutoClaimResult(next_id, claimed, deleted)

    def set_id(self, last_id: int, entries_read: int | None) -> None:
        self.last_id = last_id
        self.entries_read = entries_read

    def lag(self) -> int | None:
        """Entries in the stream the group has not read yet; None when unknowable."""
        stream = self.stream
        if not stream.entries_added:
            return 0
        if self.entries_read is not None and not stream.has_tombstones_from(self.last_id):
            return stream.entries_added - self.entries_read
        estimate = stream.estimate_entries_read(self.last_id)
        return None if estimate is None else stream.entries_added - estimate


class Stream:
    """Stream entries plus metadata and consumer groups. See the module docstring."""

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._fields: list[Fields] = []
        self._head = 0
        self.last_id = ID_MIN
        self.max_deleted_id = ID_MIN
        self.entries_added = 0
        self.groups: dict[bytes, ConsumerGroup] = {}
        # Approximate bytes held by the entries (memory accounting, INFO memory).
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._ids) - self._head

    @property
    def first_id(self) -> int:
        """ID of the oldest entry; 0-0 when empty (Redis's recorded-first-entry-id)."""
        return self._ids[self._head] if len(self._ids) > self._head else ID_MIN

    def first_entry(self) -> Entry | None:
        if len(self._ids) == self._head:
            return None
        return self._ids[self._head], self._fields[self._head]

    def last_entry(self) -> Entry | None:
        if len(self._ids) == self._head:
            return None
        return self._ids[-1], self._fields[-1]

    # -- writing ---------------------------------------------------------------------

    def add(self, fields: Fields, spec: bytes = b"*", *, now_ms: int) -> int:
        """Append an entry; ``spec`` is XADD's ID argument. Returns the new ID."""
        if spec == b"*" and now_ms < MS_MAX and self.last_id >> SEQ_BITS < MS_MAX:
            # The clock's ms with sequence 0, or one past the last ID: the same rule as
            # next_add_id (a full sequence rolls into the next ms), in one int max.
            entry_id = max(now_ms << SEQ_BITS, self.last_id + 1)
            self._ids.append(entry_id)
            self._fields.append(fields)
            self.nbytes += (ENTRY_BYTES_OVERHEAD + FIELD_BYTES_OVERHEAD * len(fields)
                            + sum(map(len, fields)))
            self.last_id = entry_id
            self.entries_added += 1
            return entry_id
        entry_id = next_add_id(spec, self.last_id, now_ms)
        self.append(entry_id, fields)
        return entry_id

    def append(self, entry_id: int, fields: Fields) -> None:
        """Append with a known, larger ID (snapshot load, replica apply)."""
        if entry_id <= self.last_id:
            raise ValueError(f"stream IDs must increase: {entry_id} after {self.last_id}")
        self._ids.append(entry_id)
        self._fields.append(fields)
        self.nbytes += entry_bytes(fields)
        self.last_id = entry_id
        self.entries_added += 1

    def restore_meta(self, *, last_id: int, max_deleted_id: int, entries_added: int) -> None:
        """Set metadata that entries alone do not carry (snapshot load)."""
        self.last_id = last_id
        self.max_deleted_id = max_deleted_id
        self.entries_added = entries_added

    def set_last_id(self, last_id: int, *, entries_added: int | None = None,
                    max_deleted_id: int | None = None) -> None:
        """XSETID. The caller has checked it is not below the top entry."""
        self.last_id = last_id
        if entries_added is not None:
            self.entries_added = entries_added
        if max_deleted_id is not None:
            self.max_deleted_id = max_deleted_id

    def delete(self, entry_ids: Iterable[int]) -> int:
        deleted = 0
        ids = self._ids
        for entry_id in entry_ids:
            index = bisect_left(ids, entry_id, self._head)
            if index < len(ids) and ids[index] == entry_id:
                del ids[index]
                self.nbytes -= entry_bytes(self._fields.pop(index))
                deleted += 1
                self.max_deleted_id = max(self.max_deleted_id, entry_id)
        return deleted

    def _drop_head(self, count: int) -> None:
        fields = self._fields
        self.nbytes -= sum(entry_bytes(fields[i])
                           for i in range(self._head, self._head + count))
        self._head += count
        head = self._head
        if head >= limits.HEAD_COMPACT_MIN and head * 2 >= len(self._ids):
            del self._ids[:head]
            del self._fields[:head]
            self._head = 0

    def _trim_count(self, excess: int, approx: bool, limit: int) -> int:
        if excess <= 0:
            return 0
        if approx:
            if limit:
                excess = min(excess, limit)
            return excess - excess % limits.TRIM_BLOCK_ENTRIES
        return excess

    def trim_maxlen(self, maxlen: int, *, approx: bool = False, limit: int = 0) -> int:
        """Drop the oldest entries beyond ``maxlen``; ``~`` trims whole blocks only."""
        removed = self._trim_count(len(self) - maxlen, approx, limit)
        if removed:
            self._drop_head(removed)
        return removed

    def trim_minid(self, minid: int, *, approx: bool = False, limit: int = 0) -> int:
        """Drop entries with IDs below ``minid``; ``~`` trims whole blocks only."""
        below = bisect_left(self._ids, minid, self._head) - self._head
        removed = self._trim_count(below, approx, limit)
        if removed:
            self._drop_head(removed)
        return removed

    # -- reading ---------------------------------------------------------------------

    def get(self, entry_id: int) -> Fields | None:
        ids = self._ids
        index = bisect_left(ids, entry_id, self._head)
        if index < len(ids) and ids[index] == entry_id:
            return self._fields[index]
        return None

    def range(self, start: int, end: int, count: int = 0, *,
              reverse: bool = False) -> list[Entry]:
        """Entries with start <= ID <= end, oldest first (newest first if ``reverse``).

        ``count`` <= 0 means no limit.
        """
        if start > end:
            return []
        ids = self._ids
        lo = bisect_left(ids, start, self._head)
        hi = bisect_right(ids, end, lo)
        if count > 0 and hi - lo > count:
            if reverse:
                lo = hi - count
            else:
                hi = lo + count
        result = list(zip(ids[lo:hi], self._fields[lo:hi], strict=True))
        if reverse:
            result.reverse()
        return result

    def after(self, entry_id: int, count: int = 0) -> list[Entry]:
        """Entries with ID > ``entry_id`` (XREAD); ``count`` <= 0 means no limit."""
        if entry_id >= ID_MAX:
            return []
        return self.range(entry_id + 1, ID_MAX, count)

    def entries(self) -> list[Entry]:
        return self.range(ID_MIN, ID_MAX)

    # -- groups ----------------------------------------------------------------------

    def create_group(self, name: bytes, last_id: int, entries_read: int | None) -> ConsumerGroup:
        if name in self.groups:
            raise StreamError(ERR_BUSYGROUP)
        group = self.groups[name] = ConsumerGroup(self, name, last_id, entries_read)
        return group

    def destroy_group(self, name: bytes) -> bool:
        return self.groups.pop(name, None) is not None

    def has_tombstones_from(self, start: int) -> bool:
        """Whether an XDEL may have removed an entry with ID >= ``start``."""
        if len(self) == 0 or self.max_deleted_id == ID_MIN:
            return False
        if self.first_id > self.max_deleted_id:
            return False  # every deletion happened before the oldest entry left
        return start <= self.max_deleted_id

    def estimate_entries_read(self, entry_id: int) -> int | None:
        """How many entries ever added come at or before ``entry_id``; None if unknowable.

        Exact when no deleted entry can hide in between, as Redis estimates it.
        """
        if not self.entries_added:
            return 0
        if len(self) == 0 and entry_id <= self.last_id:
            return self.entries_added
        if entry_id == self.last_id:
            return self.entries_added
        if entry_id > self.last_id:
            return None  # a future ID: its counter is unknown
        first_id = self.first_id
        if self.max_deleted_id == ID_MIN or self.max_deleted_id < first_id:
            if entry_id < first_id:
                return self.entries_added - len(self)
            if entry_id == first_id:
                return self.entries_added - len(self) + 1
        return None
