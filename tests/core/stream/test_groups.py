"""Consumer groups: delivery, the pending entries list, acks, claims, lag, dead letters."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hld.core.stream.deadletter import (
    PendingInfo,
    dead_letter_commands,
    move_to_dead_letter,
    plan_redelivery,
)
from hld.core.stream.deliveries import (
    TRANSITIONS,
    Delivery,
    Event,
    IllegalTransition,
    mermaid,
    next_state,
)
from hld.core.stream.errors import StreamError
from hld.core.stream.ids import ID_MAX, ID_MIN, make_id
from hld.core.stream.stream import ConsumerGroup, Stream


def setup(n: int = 5) -> tuple[Stream, ConsumerGroup]:
    stream = Stream()
    for i in range(1, n + 1):
        stream.add((b"n", b"%d" % i), b"%d-0" % i, now_ms=0)
    return stream, stream.create_group(b"g", ID_MIN, 0)


def test_new_entries_are_delivered_once_and_become_pending() -> None:
    _, group = setup()
    first = group.read_new(b"alice", 2, noack=False, now_ms=100)
    second = group.read_new(b"bob", 0, noack=False, now_ms=200)
    assert [make_id(1, 0), make_id(2, 0)] == [i for i, _ in first]
    assert [make_id(i, 0) for i in (3, 4, 5)] == [i for i, _ in second]
    assert group.read_new(b"alice", 0, noack=False, now_ms=300) == []
    summary = group.pending_summary()
    assert (5, make_id(1, 0), make_id(5, 0)) == (summary.count, summary.first_id,
                                                 summary.last_id)
    assert summary.per_consumer == [(b"alice", 2), (b"bob", 3)]


def test_noack_delivers_without_pending() -> None:
    _, group = setup()
    assert len(group.read_new(b"c", 0, noack=True, now_ms=0)) == 5
    assert group.pending_summary().count == 0


def test_history_reads_redeliver_and_count_and_show_deleted_entries_as_none() -> None:
    stream, group = setup(3)
    group.read_new(b"c", 0, noack=False, now_ms=10)
    stream.delete([make_id(2, 0)])
    history = group.read_history(b"c", ID_MIN, 0, now_ms=50)
    assert [(make_id(1, 0), (b"n", b"1")), (make_id(2, 0), None),
            (make_id(3, 0), (b"n", b"3"))] == history
    details = group.pending_range(ID_MIN, ID_MAX, 10, now_ms=60)
    assert [(d.delivery_count, d.idle_ms) for d in details] == [(2, 10), (1, 50), (2, 10)]
    assert [make_id(3, 0)] == [i for i, _ in group.read_history(b"c", make_id(2, 0), 0,
                                                                  now_ms=70)]


def test_ack_removes_from_pending_once() -> None:
    _, group = setup()
    group.read_new(b"c", 0, noack=False, now_ms=0)
    assert group.ack([make_id(1, 0), make_id(3, 0), make_id(3, 0), make_id(9, 0)]) == 2
    assert [make_id(2, 0), make_id(4, 0), make_id(5, 0)] == [
        d.entry_id for d in group.pending_range(ID_MIN, ID_MAX, 10, now_ms=0)]


def test_pending_range_filters_by_idle_time_consumer_and_count() -> None:
    _, group = setup()
    group.read_new(b"a", 2, noack=False, now_ms=0)
    group.read_new(b"b", 0, noack=False, now_ms=900)
    assert len(group.pending_range(ID_MIN, ID_MAX, 10, now_ms=1000, min_idle_ms=500)) == 2
    assert len(group.pending_range(ID_MIN, ID_MAX, 10, now_ms=1000, consumer=b"b")) == 3
    assert len(group.pending_range(ID_MIN, ID_MAX, 1, now_ms=1000)) == 1
    assert group.pending_range(ID_MIN, ID_MAX, 10, now_ms=1000, consumer=b"nobody") == []


def test_claim_moves_idle_entries_and_counts_a_delivery() -> None:
    _, group = setup()
    group.read_new(b"a", 0, noack=False, now_ms=0)
    claimed = group.claim(b"b", 100, [make_id(1, 0), make_id(2, 0)], now_ms=50)
    assert claimed == []  # not idle long enough
    claimed = group.claim(b"b", 100, [make_id(1, 0), make_id(2, 0)], now_ms=500)
    assert [make_id(1, 0), make_id(2, 0)] == [i for i, _ in claimed]
    owners = {d.entry_id: (d.consumer, d.delivery_count)
              for d in group.pending_range(ID_MIN, ID_MAX, 10, now_ms=500)}
    assert owners[make_id(1, 0)] == (b"b", 2)
    assert len(group.consumers[b"a"].pending) == 3


def test_claim_justid_keeps_the_count_and_retrycount_sets_it() -> None:
    _, group = setup()
    group.read_new(b"a", 1, noack=False, now_ms=0)
    assert [(make_id(1, 0), None)] == group.claim(b"b", 0, [make_id(1, 0)], now_ms=5,
                                                  justid=True)
    group.claim(b"b", 0, [make_id(1, 0)], now_ms=5, retry_count=7, delivery_time_ms=1)
    [detail] = group.pending_range(ID_MIN, ID_MAX, 10, now_ms=5)
    assert (detail.delivery_count, detail.idle_ms) == (7, 4)


def test_claim_force_creates_pending_and_deleted_entries_leave_the_pel() -> None:
    stream, group = setup()
    assert group.claim(b"b", 0, [make_id(4, 0)], now_ms=0) == []
    assert [make_id(4, 0)] == [i for i, _ in group.claim(b"b", 0, [make_id(4, 0)], now_ms=0,
                                                          force=True)]
    stream.delete([make_id(4, 0)])
    assert group.claim(b"c", 0, [make_id(4, 0)], now_ms=0) == []
    assert group.pending_summary().count == 0


def test_autoclaim_scans_with_a_cursor_and_reports_deleted_ids() -> None:
    stream, group = setup(6)
    group.read_new(b"a", 0, noack=False, now_ms=0)
    stream.delete([make_id(2, 0)])
    result = group.autoclaim(b"b", 10, ID_MIN, 3, now_ms=100)
    assert [make_id(1, 0), make_id(3, 0)] == [i for i, _ in result.claimed]
    assert [make_id(2, 0)] == result.deleted_ids  # it used up one of the COUNT, as Redis
    assert make_id(4, 0) == result.next_id
    rest = group.autoclaim(b"b", 10, result.next_id, 10, now_ms=100)
    assert (rest.next_id, len(rest.claimed)) == (ID_MIN, 3)
    assert group.pending_summary().per_consumer == [(b"b", 5)]


def test_autoclaim_examines_a_bounded_number_of_entries() -> None:
    _, group = setup(50)
    group.read_new(b"a", 0, noack=False, now_ms=90)
    result = group.autoclaim(b"b", 50, ID_MIN, 1, now_ms=100)  # none idle enough
    assert ([], make_id(11, 0)) == (result.claimed, result.next_id)


def test_deleting_a_consumer_drops_its_pending_entries() -> None:
    _, group = setup()
    group.read_new(b"a", 2, noack=False, now_ms=0)
    group.read_new(b"b", 0, noack=False, now_ms=0)
    assert (group.delete_consumer(b"a"), group.delete_consumer(b"a")) == (2, 0)
    assert group.pending_summary().count == 3


def test_lag_counts_unread_entries_and_is_unknown_after_a_deletion_mid_stream() -> None:
    stream, group = setup(5)
    assert group.lag() == 5
    group.read_new(b"a", 2, noack=False, now_ms=0)
    assert (group.entries_read, group.lag()) == (2, 3)
    stream.delete([make_id(4, 0)])
    assert group.lag() is None
    group.read_new(b"a", 0, noack=False, now_ms=0)
    assert group.lag() == 0


def test_group_names_are_unique() -> None:
    stream, _ = setup()
    with pytest.raises(StreamError) as info:
        stream.create_group(b"g", ID_MIN, None)
    assert str(info.value) == "BUSYGROUP Consumer Group name already exists"


# -- the transition table -------------------------------------------------------------

def test_every_state_but_dead_has_a_way_out() -> None:
    sources = {state for state, _ in TRANSITIONS}
    assert {Delivery.NEW, Delivery.PENDING, Delivery.ACKED} == sources


def test_an_illegal_transition_raises() -> None:
    with pytest.raises(IllegalTransition):
        next_state(Delivery.ACKED, Event.ACK)
    with pytest.raises(IllegalTransition):
        next_state(Delivery.DEAD, Event.CLAIM)
    assert "pending --> acked: ack" in mermaid()


def test_dead_lettering_an_acked_entry_is_refused_and_changes_nothing() -> None:
    _, group = setup()
    group.read_new(b"a", 1, noack=False, now_ms=0)
    group.ack([make_id(1, 0)])
    with pytest.raises(IllegalTransition):
        group.dead_letter(make_id(1, 0))
    assert group.pending_summary().count == 0


# -- redelivery and dead letters -----------------------------------------------------

def test_plan_retries_idle_entries_and_buries_the_too_often_delivered() -> None:
    plan = plan_redelivery([PendingInfo(1, 50, 1), PendingInfo(2, 500, 2),
                            PendingInfo(3, 500, 3)], visibility_timeout_ms=100,
                           max_deliveries=3)
    assert (plan.retry_ids, plan.dead_ids) == ([2], [3])
    with pytest.raises(ValueError, match="max_deliveries"):
        plan_redelivery([], visibility_timeout_ms=1, max_deliveries=0)


def test_moving_to_dead_letter_copies_with_provenance_and_acks() -> None:
    _, group = setup()
    dead = Stream()
    group.read_new(b"a", 1, noack=False, now_ms=0)
    group.claim(b"b", 0, [make_id(1, 0)], now_ms=1)
    new_id = move_to_dead_letter(b"jobs", group, make_id(1, 0), dead, now_ms=7)
    assert new_id == make_id(7, 0)
    expected = (b"n", b"1", b"dlq-source-stream", b"jobs", b"dlq-source-group", b"g",
                b"dlq-source-id", b"1-0", b"dlq-deliveries", b"2")
    assert expected == dead.get(make_id(7, 0))
    assert group.pending_summary().count == 0


def test_dead_letter_commands_copy_then_ack() -> None:
    commands = dead_letter_commands(source_stream=b"jobs", group=b"g", dead_stream=b"dlq",
                                    entry_id=make_id(3, 1), fields=(b"k", b"v"),
                                    delivery_count=5)
    assert commands[0][:5] == [b"XADD", b"dlq", b"*", b"k", b"v"]
    assert commands[1] == [b"XACK", b"jobs", b"g", b"3-1"]


# -- a reference model -----------------------------------------------------------------

class GroupModel(RuleBasedStateMachine):
    """One group over one stream against dicts: who holds what, how often delivered."""

    def __init__(self) -> None:
        super().__init__()
        self.stream = Stream()
        self.group = self.stream.create_group(b"g", ID_MIN, 0)
        self.clock_ms = 0
        self.entries: list[int] = []  # ids still in the stream
        self.cursor = ID_MIN
        self.pending: dict[int, tuple[bytes, int, int]] = {}  # id -> (owner, count, time)

    consumers = st.sampled_from([b"a", b"b", b"c"])

    @rule(n=st.integers(1, 3), dt=st.integers(0, 50))
    def add(self, n: int, dt: int) -> None:
        self.clock_ms += dt
        for _ in range(n):
            self.entries.append(self.stream.add((b"f", b"v"), now_ms=self.clock_ms))

    @rule(consumer=consumers, count=st.integers(0, 3), noack=st.booleans())
    def read_new(self, consumer: bytes, count: int, noack: bool) -> None:
        got = [i for i, _ in self.group.read_new(consumer, count, noack=noack,
                                                 now_ms=self.clock_ms)]
        fresh = [i for i in self.entries if i > self.cursor]
        expected = fresh if count == 0 else fresh[:count]
        assert expected == got
        if got:
            self.cursor = got[-1]
        if not noack:
            for i in got:
                self.pending[i] = (consumer, 1, self.clock_ms)

    @rule(consumer=consumers)
    def read_history(self, consumer: bytes) -> None:
        got = self.group.read_history(consumer, ID_MIN, 0, now_ms=self.clock_ms)
        mine = sorted(i for i, (owner, _, _) in self.pending.items() if owner == consumer)
        assert mine == [i for i, _ in got]
        for i, fields in got:
            if fields is not None:
                owner, count, _ = self.pending[i]
                self.pending[i] = (owner, count + 1, self.clock_ms)

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        victim = data.draw(st.sampled_from(sorted(self.pending)))
        assert self.group.ack([victim]) == 1
        del self.pending[victim]

    @rule(consumer=consumers, min_idle=st.integers(0, 60), count=st.integers(1, 4))
    def autoclaim(self, consumer: bytes, min_idle: int, count: int) -> None:
        result = self.group.autoclaim(consumer, min_idle, ID_MIN, count, now_ms=self.clock_ms)
        for i in result.deleted_ids:
            assert i not in self.entries
            del self.pending[i]
        for i, _ in result.claimed:
            _owner, n, since = self.pending[i]
            assert min_idle == 0 or self.clock_ms - since >= min_idle
            self.pending[i] = (consumer, n + 1, self.clock_ms)

    @precondition(lambda self: self.entries)
    @rule(data=st.data())
    def delete_entry(self, data: st.DataObject) -> None:
        victim = data.draw(st.sampled_from(self.entries))
        assert self.stream.delete([victim]) == 1
        self.entries.remove(victim)

    @rule(consumer=consumers)
    def delete_consumer(self, consumer: bytes) -> None:
        owned = [i for i, (owner, _, _) in self.pending.items() if owner == consumer]
        assert len(owned) == self.group.delete_consumer(consumer)
        for i in owned:
            del self.pending[i]

    @rule(dt=st.integers(1, 40))
    def tick(self, dt: int) -> None:
        self.clock_ms += dt

    @invariant()
    def pel_matches_the_model(self) -> None:
        details = self.group.pending_range(ID_MIN, ID_MAX, 10_000, now_ms=self.clock_ms)
        assert sorted(self.pending) == [d.entry_id for d in details]
        for d in details:
            owner, count, since = self.pending[d.entry_id]
            assert (owner, count, self.clock_ms - since) == (d.consumer, d.delivery_count,
                                                             d.idle_ms)
        for consumer in self.group.consumers.values():
            assert all(p.consumer is consumer for p in consumer.pending.values())
        assert sum(len(c.pending) for c in self.group.consumers.values()) == len(self.pending)


GroupModel.TestCase.settings = settings(max_examples=60, stateful_step_count=30,
                                        deadline=None)
TestGroupModel = GroupModel.TestCase


def test_rewinding_the_cursor_hands_pending_entries_over_afresh() -> None:
    _, group = setup(2)
    group.read_new(b"a", 0, noack=False, now_ms=0)
    group.read_history(b"a", ID_MIN, 0, now_ms=1)
    group.set_id(ID_MIN, None)
    assert [make_id(1, 0), make_id(2, 0)] == [i for i, _ in group.read_new(
        b"b", 0, noack=False, now_ms=5)]
    details = group.pending_range(ID_MIN, ID_MAX, 10, now_ms=5)
    assert [(d.consumer, d.delivery_count) for d in details] == [(b"b", 1), (b"b", 1)]
    assert group.consumers[b"a"].pending == {}
