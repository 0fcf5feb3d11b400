"""Replication, pure: replication IDs and offsets, the backlog, the replica link's state
machine, the primary's registry of replicas with acknowledged offsets, and WAIT.

The shell (``hld.store.replication``) owns the sockets and the clock; it feeds bytes
counts, acknowledgements and ``now`` in, and reads decisions (full or partial resync,
how many replicas reached an offset, when to reconnect) out.
"""

from __future__ import annotations

from hld.core.replication.backlog import Backlog
from hld.core.replication.link import LinkEvent, LinkState, ReplicaLink
from hld.core.replication.primary import PsyncDecision, ReplicaRegistry, decide_psync
from hld.core.replication.replid import new_replid

__all__ = [
    "Backlog", "LinkEvent", "LinkState", "PsyncDecision", "ReplicaLink", "ReplicaRegistry",
    "decide_psync", "new_replid",
]
