"""Every bound hld-store enforces, in one place, each with its reason.

A client can only make the server hold what these allow; exceeding one closes that
client's connection (protocol limits, output buffers) or refuses the new connection
(clients), never the server.
"""

from __future__ import annotations

from typing import Final

# Redis' proto-max-bulk-len: larger strings are refused at the header, before buffering.
BULK_BYTES_MAX: Final = 512 * 1024 * 1024
# Redis refuses multibulk counts above 1024*1024: an argv is a Python list of that many.
ARGS_MAX: Final = 1024 * 1024
# Redis' client-query-buffer-limit is 1 GB; a Python process pays more per byte held
# (parsed objects on top of the raw buffer), so a single incomplete request may hold at
# most 256 MB before the connection is closed.
QUERY_BUFFER_BYTES_MAX: Final = 256 * 1024 * 1024
# Inline commands (telnet style) are lines; Redis caps them at 64 KB.
INLINE_BYTES_MAX: Final = 64 * 1024
# Redis' maxclients default is 10000; each client costs a protocol object and buffers.
CLIENTS_MAX: Final = 10_000
# Pub/sub output buffer (Redis' client-output-buffer-limit pubsub 32mb 8mb 60): a
# subscriber that does not read is disconnected once this many bytes are queued for it.
PUBSUB_OUTPUT_BYTES_MAX: Final = 32 * 1024 * 1024
# Normal clients: pipelined replies waiting for a slow reader; beyond this the server
# stops reading from that client (transport pause) until its buffer drains.
OUTPUT_HIGH_WATER_BYTES: Final = 4 * 1024 * 1024
OUTPUT_LOW_WATER_BYTES: Final = 1 * 1024 * 1024
# Commands served per wake-up of a client before the loop serves others (fairness).
COMMANDS_PER_READ_MAX: Final = 100_000
# Active expiry: keys removed per cycle and cycles per second (Redis' hz 10).
ACTIVE_EXPIRE_KEYS_PER_CYCLE: Final = 2_000
ACTIVE_EXPIRE_HZ: Final = 10
# Longest blocking timeout accepted (BLPOP etc.), one year, so deadlines stay finite.
BLOCK_TIMEOUT_S_MAX: Final = 365 * 24 * 3600.0
# SCAN COUNT and KEYS-like work per call: how many entries one call may visit.
SCAN_COUNT_MAX: Final = 100_000
# The /metrics HTTP responder: a request head larger than this, or slower than the
# timeout, is dropped; scrapers beyond the client cap are closed at once.
METRICS_REQUEST_BYTES_MAX: Final = 8 * 1024
METRICS_READ_TIMEOUT_S: Final = 5.0
METRICS_CLIENTS_MAX: Final = 64
