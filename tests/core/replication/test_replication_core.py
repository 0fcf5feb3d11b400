"""Replication core: backlog windows, PSYNC decisions, the link table, WAIT counting."""

from __future__ import annotations

import random

import pytest

from hld.core.replication.backlog import Backlog
from hld.core.replication.limits import RECONNECT_BACKOFF_S_BASE, RECONNECT_BACKOFF_S_MAX
from hld.core.replication.link import IllegalTransition, LinkEvent, LinkState, ReplicaLink
from hld.core.replication.primary import ReplicaRegistry, Waiter, decide_psync
from hld.core.replication.replid import is_replid, new_replid


def test_replids_are_40_hex_chars_and_differ() -> None:
    rng = random.Random(7)
    first, second = new_replid(rng), new_replid(rng)
    assert is_replid(first)
    assert is_replid(second)
    assert first != second


def test_backlog_serves_bytes_after_an_offset_it_still_holds() -> None:
    backlog = Backlog(10, start_offset=100)
    backlog.append(b"abcdef")
    assert backlog.end_offset == 106
    assert backlog.read_after(103) == b"def"
    assert backlog.read_after(106) == b""
    assert backlog.read_after(107) is None  # the future is not covered


def test_backlog_forgets_beyond_its_capacity() -> None:
    backlog = Backlog(4)
    for chunk in (b"0123", b"4567", b"89"):
        backlog.append(chunk)
    assert backlog.read_after(6) == b"6789"
    assert backlog.read_after(5) is None
    assert len(backlog) <= 2 * 4


def test_psync_continues_within_the_same_history_and_backlog() -> None:
    backlog = Backlog(100, start_offset=50)
    backlog.append(b"x" * 30)
    same = decide_psync("a" * 40, 60, my_replid="a" * 40, my_replid2="", second_offset=-1,
                        backlog=backlog)
    assert (same.mode, same.offset) == ("continue", 60)
    other = decide_psync("b" * 40, 60, my_replid="a" * 40, my_replid2="", second_offset=-1,
                         backlog=backlog)
    assert (other.mode, other.offset) == ("full", 80)
    too_old = decide_psync("a" * 40, 10, my_replid="a" * 40, my_replid2="",
                           second_offset=-1, backlog=backlog)
    assert too_old.mode == "full"


def test_psync_after_promotion_accepts_the_previous_history_up_to_its_end() -> None:
    backlog = Backlog(100, start_offset=0)
    backlog.append(b"y" * 40)
    kwargs = {"my_replid": "n" * 40, "my_replid2": "o" * 40, "second_offset": 30,
              "backlog": backlog}
    assert decide_psync("o" * 40, 30, **kwargs).mode == "continue"  # type: ignore[arg-type]
    assert decide_psync("o" * 40, 35, **kwargs).mode == "full"  # type: ignore[arg-type]


def test_link_follows_the_table_and_backs_off_when_lost() -> None:
    link = ReplicaLink()
    link.follow("127.0.0.1", 7000, now=0.0)
    assert link.should_dial(0.0)
    link.apply(LinkEvent.DIAL, now=0.0)
    link.apply(LinkEvent.LOST, now=1.0)
    expected = (LinkState.CONNECT, 1.0 + RECONNECT_BACKOFF_S_BASE)
    assert expected == (link.state, link.next_dial_s)
    for _ in range(20):
        link.apply(LinkEvent.DIAL, now=1.0)
        link.apply(LinkEvent.LOST, now=1.0)
    assert link.backoff_s() == RECONNECT_BACKOFF_S_MAX
    link.apply(LinkEvent.DIAL, now=2.0)
    link.apply(LinkEvent.FULL_SYNC, now=2.0)
    link.apply(LinkEvent.LOADED, now=2.0)
    assert (link.state, link.failures, link.full_syncs) == (LinkState.CONNECTED, 0, 1)


def test_an_illegal_link_event_raises_and_changes_nothing() -> None:
    link = ReplicaLink()
    with pytest.raises(IllegalTransition):
        link.apply(LinkEvent.LOADED, now=0.0)
    assert link.state == LinkState.NONE
    link.follow("h", 1, now=0.0)
    link.apply(LinkEvent.PROMOTE, now=0.0)
    assert not link.is_replica


def test_wait_counts_online_replicas_at_or_past_the_offset() -> None:
    registry = ReplicaRegistry()
    registry.attach(1, "a", 1, now=0.0)
    registry.attach(2, "b", 2, now=0.0)
    registry.online(1, 100, now=0.0)
    assert registry.acked(100) == 1
    registry.online(2, 90, now=0.0)
    registry.ack(2, 120, now=1.0)
    assert registry.acked(100) == 2
    assert registry.wait_done(Waiter(110, 2, 0.0), now=5.0) is False
    assert registry.wait_done(Waiter(110, 2, 4.0), now=5.0) is True  # the deadline passed
    registry.detach(2)
    assert registry.acked(0) == 1
