"""Bounds of the stream type, with their reasons, in one place."""

from __future__ import annotations

# Approximate (~) trimming removes whole blocks of this many entries, as Redis removes
# whole radix-tree nodes (its stream-node-max-entries default is 100). Reporting the same
# granularity keeps `MAXLEN ~` results close to what Redis users expect.
TRIM_BLOCK_ENTRIES = 100

# Default LIMIT of an approximate trim: Redis uses 100 * stream-node-max-entries so that a
# single XADD never stalls the server trimming a huge backlog.
TRIM_APPROX_LIMIT_DEFAULT = 100 * TRIM_BLOCK_ENTRIES

# Entries are stored from a moving head index; the dead prefix is compacted once it is at
# least this long and at least half the array, so head trimming is amortised O(k).
HEAD_COMPACT_MIN = 1024

# XAUTOCLAIM scans at most COUNT * this many pending entries per call (Redis's factor).
AUTOCLAIM_ATTEMPTS_FACTOR = 10
AUTOCLAIM_COUNT_DEFAULT = 100
AUTOCLAIM_COUNT_MAX = ((1 << 63) - 1) // AUTOCLAIM_ATTEMPTS_FACTOR
