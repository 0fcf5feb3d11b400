"""The replica side of a replication link, as a transition table.

States: NONE (we are a primary), CONNECT (configured, waiting to dial, with backoff),
CONNECTING (dialled, handshake: PING, REPLCONF, PSYNC), SYNC (receiving a full snapshot),
CONNECTED (streaming writes). A lost link goes back to CONNECT with a longer backoff; a
successful sync resets it. REPLICAOF NO ONE from any state goes to NONE. The table is
the policy: an event not in it raises and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hld.core.replication.limits import RECONNECT_BACKOFF_S_BASE, RECONNECT_BACKOFF_S_MAX


class LinkState(Enum):
    NONE = "none"
    CONNECT = "connect"
    CONNECTING = "connecting"
    SYNC = "sync"
    CONNECTED = "connected"


class LinkEvent(Enum):
    REPLICAOF = "replicaof"  # configured to follow a primary
    DIAL = "dial"  # the backoff elapsed, a connection attempt starts
    FULL_SYNC = "full_sync"  # the primary answered +FULLRESYNC
    LOADED = "loaded"  # the snapshot is loaded, the stream follows
    CONTINUE = "continue"  # the primary answered +CONTINUE (partial resync)
    LOST = "lost"  # connection failed, closed or timed out
    PROMOTE = "promote"  # REPLICAOF NO ONE


_ANY_REPLICA = (LinkState.CONNECT, LinkState.CONNECTING, LinkState.SYNC, LinkState.CONNECTED)

TRANSITIONS: dict[tuple[LinkState, LinkEvent], LinkState] = {
    (LinkState.NONE, LinkEvent.REPLICAOF): LinkState.CONNECT,
    (LinkState.NONE, LinkEvent.PROMOTE): LinkState.NONE,
    (LinkState.CONNECT, LinkEvent.DIAL): LinkState.CONNECTING,
    (LinkState.CONNECTING, LinkEvent.FULL_SYNC): LinkState.SYNC,
    (LinkState.CONNECTING, LinkEvent.CONTINUE): LinkState.CONNECTED,
    (LinkState.SYNC, LinkEvent.LOADED): LinkState.CONNECTED,
    **{(state, LinkEvent.LOST): LinkState.CONNECT for state in _ANY_REPLICA},
    **{(state, LinkEvent.PROMOTE): LinkState.NONE for state in _ANY_REPLICA},
    **{(state, LinkEvent.REPLICAOF): LinkState.CONNECT for state in _ANY_REPLICA},
}


class IllegalTransition(Exception):  # noqa: N818 - the domain's term
    def __init__(self, state: LinkState, event: LinkEvent) -> None:
        super().__init__(f"replica link cannot {event.value} while {state.value}")


@dataclass(frozen=True, slots=True)
class LinkStatistics:
    state: LinkState
    attempts: int
    full_syncs: int
    partial_syncs: int
    last_io_s: float


class ReplicaLink:
    """The replica's view of its link to a primary, and its reconnection backoff."""

    def __init__(self) -> None:
        self.state = LinkState.NONE
        self.host = ""
        self.port = 0
        self.failures = 0  # consecutive failed attempts, for the backoff
        self.attempts = 0
        self.full_syncs = 0
        self.partial_syncs = 0
        self.next_dial_s = 0.0
        self.last_io_s = 0.0
        self.down_since_s = 0.0

    def apply(self, event: LinkEvent, *, now: float) -> LinkState:
        try:
            target = TRANSITIONS[self.state, event]
        except KeyError:
            raise IllegalTransition(self.state, event) from None
        if event is LinkEvent.DIAL:
            self.attempts += 1
        elif event is LinkEvent.LOST:
            self.failures += 1
            self.next_dial_s = now + self.backoff_s()
            if self.state is LinkState.CONNECTED:
                self.down_since_s = now
        elif event in (LinkEvent.LOADED, LinkEvent.CONTINUE):
            self.failures = 0
            self.last_io_s = now
            if event is LinkEvent.LOADED:
                self.full_syncs += 1
            else:
                self.partial_syncs += 1
        elif event is LinkEvent.REPLICAOF:
            self.failures = 0
            self.next_dial_s = now
            self.down_since_s = now
        self.state = target
        return target

    def follow(self, host: str, port: int, *, now: float) -> None:
        self.apply(LinkEvent.REPLICAOF, now=now)
        self.host, self.port = host, port

    def backoff_s(self) -> float:
        """Doubling from the base with each consecutive failure, capped."""
        return float(min(RECONNECT_BACKOFF_S_MAX,
                         RECONNECT_BACKOFF_S_BASE * (2 ** min(self.failures - 1, 16))))

    def should_dial(self, now: float) -> bool:
        return self.state is LinkState.CONNECT and now >= self.next_dial_s

    @property
    def is_replica(self) -> bool:
        return self.state is not LinkState.NONE

    def statistics(self) -> LinkStatistics:
        return LinkStatistics(self.state, self.attempts, self.full_syncs, self.partial_syncs,
                              self.last_io_s)
