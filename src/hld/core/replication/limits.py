"""Bounds of replication, with their reasons, in one place."""

from __future__ import annotations

# Redis' repl-backlog-size default: how far behind a replica may fall and still resume
# with a partial resync instead of a full one.
BACKLOG_BYTES_DEFAULT = 1024 * 1024
# Reconnection backoff of a replica whose primary went away: doubling from the base,
# capped so a restarted primary is found again within a couple of seconds.
RECONNECT_BACKOFF_S_BASE = 0.1
RECONNECT_BACKOFF_S_MAX = 2.0
# Replicas acknowledge their offset this often (Redis: every second).
ACK_INTERVAL_S = 1.0
# A primary keeps at most this many replicas (each costs a socket and an output buffer).
REPLICAS_MAX = 64
# Waiting WAIT calls at most (each is a parked client).
WAITERS_MAX = 10_000
# A replica whose primary has been silent this long drops the link and reconnects
# (Redis' repl-timeout is 60 s; primaries here ping every second, so less suffices).
LINK_TIMEOUT_S = 10.0
# A primary drops a replica that has not acknowledged for this long (Redis' repl-timeout):
# generous, because a replica loading a large snapshot acknowledges only afterwards.
REPLICA_ACK_TIMEOUT_S = 60.0
