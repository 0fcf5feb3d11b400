"""The primary side: which replicas exist, what they acknowledged, PSYNC and WAIT.

A primary has a replication ID and offset (bytes of write stream produced). After a
promotion it also remembers its previous ID and the offset where that history ended
(``replid2``, ``second_offset``), so replicas of the old primary can continue with a
partial resync, as Redis's PSYNC2 allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hld.core.replication.backlog import Backlog
from hld.core.replication.limits import REPLICAS_MAX


@dataclass(frozen=True, slots=True)
class PsyncDecision:
    mode: Literal["full", "continue"]
    offset: int  # full: the offset the snapshot stands for; continue: resume after it


def decide_psync(replid: str, offset: int, *, my_replid: str, my_replid2: str,
                 second_offset: int, backlog: Backlog) -> PsyncDecision:
    """Whether ``PSYNC replid offset`` can continue from the backlog, or needs a snapshot.

    ``offset`` is the last byte the replica has. It may continue if it follows our current
    history, or our previous one up to where it ended, and the backlog holds what comes
    after its offset.
    """
    same_history = replid == my_replid or (
        replid == my_replid2 and offset <= second_offset)
    if same_history and offset >= 0 and backlog.covers(offset):
        return PsyncDecision("continue", offset)
    return PsyncDecision("full", backlog.end_offset)


@dataclass(slots=True)
class ReplicaInfo:
    replica_id: int
    addr: str
    listening_port: int
    state: Literal["wait_bgsave", "online"]
    ack_offset: int
    last_ack_s: float


@dataclass(frozen=True, slots=True)
class Waiter:
    """A WAIT call: ``numreplicas`` must reach ``offset`` before ``deadline_s``."""

    offset: int
    numreplicas: int
    deadline_s: float  # 0: no deadline


class RegistryFull(Exception):  # noqa: N818 - the domain's term
    """More replicas than REPLICAS_MAX tried to attach."""


class ReplicaRegistry:
    """Replicas attached to this primary with their acknowledged offsets."""

    def __init__(self) -> None:
        self.replicas: dict[int, ReplicaInfo] = {}

    def attach(self, replica_id: int, addr: str, listening_port: int, *,
               now: float) -> ReplicaInfo:
        if replica_id not in self.replicas and len(self.replicas) >= REPLICAS_MAX:
            raise RegistryFull(f"at most {REPLICAS_MAX} replicas")
        info = ReplicaInfo(replica_id, addr, listening_port, "wait_bgsave", 0, now)
        self.replicas[replica_id] = info
        return info

    def online(self, replica_id: int, offset: int, *, now: float) -> None:
        info = self.replicas[replica_id]
        info.state = "online"
        info.ack_offset = max(info.ack_offset, offset)
        info.last_ack_s = now

    def ack(self, replica_id: int, offset: int, *, now: float) -> None:
        info = self.replicas.get(replica_id)
        if info is None:
            return
        info.ack_offset = max(info.ack_offset, offset)
        info.last_ack_s = now

    def detach(self, replica_id: int) -> None:
        self.replicas.pop(replica_id, None)

    def acked(self, offset: int) -> int:
        """How many online replicas acknowledged ``offset`` or later (WAIT's answer)."""
        return sum(1 for r in self.replicas.values()
                   if r.state == "online" and r.ack_offset >= offset)

    def wait_done(self, waiter: Waiter, *, now: float) -> bool:
        """WAIT may answer: enough replicas acknowledged, or its deadline passed."""
        if self.acked(waiter.offset) >= waiter.numreplicas:
            return True
        return bool(waiter.deadline_s) and now >= waiter.deadline_s

    def lag_s(self, replica_id: int, *, now: float) -> int:
        """Whole seconds since the replica's last acknowledgement (INFO's lag)."""
        return int(now - self.replicas[replica_id].last_ack_s)
