"""The replication backlog: the last N bytes of the write stream, addressed by offset.

The primary appends every byte it sends to replicas; ``end_offset`` is its replication
offset. A reconnecting replica names the offset it has; if that lies inside the backlog,
the bytes after it are all it needs (partial resync), otherwise it needs a snapshot. One
bytearray trimmed from the front once it exceeds twice the capacity keeps appends O(1)
amortised and reads one slice.
"""

from __future__ import annotations

from hld.core.replication.limits import BACKLOG_BYTES_DEFAULT


class Backlog:
    """A bounded window of the replication stream. See the module docstring."""

    def __init__(self, capacity_bytes: int = BACKLOG_BYTES_DEFAULT, *,
                 start_offset: int = 0) -> None:
        if capacity_bytes < 1:
            raise ValueError(f"capacity_bytes must be at least 1, got {capacity_bytes}")
        self.capacity_bytes = capacity_bytes
        self._buffer = bytearray()
        # Offset of the first byte held: the stream's bytes are numbered from 1 as in
        # Redis, so an empty backlog at offset N holds (N, N].
        self._first = start_offset

    @property
    def start_offset(self) -> int:
        """Offset a replica may resume from: it has every byte up to this one."""
        return self._first

    @property
    def end_offset(self) -> int:
        return self._first + len(self._buffer)

    def __len__(self) -> int:
        return len(self._buffer)

    def append(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        excess = len(buffer) - self.capacity_bytes
        if excess > self.capacity_bytes:
            del buffer[:excess]
            self._first += excess

    def reset(self, offset: int) -> None:
        """Forget everything; the next byte appended is offset + 1 (new history)."""
        self._buffer = bytearray()
        self._first = offset

    def covers(self, offset: int) -> bool:
        """Whether the bytes after ``offset`` are all still here."""
        return self.start_offset_kept() <= offset <= self.end_offset

    def start_offset_kept(self) -> int:
        """The oldest resumable offset, honouring the capacity (not the slack)."""
        return max(self._first, self.end_offset - self.capacity_bytes)

    def read_after(self, offset: int) -> bytes | None:
        """Bytes after ``offset`` up to the end; None when not covered."""
        if not self.covers(offset):
            return None
        return bytes(self._buffer[offset - self._first:])
