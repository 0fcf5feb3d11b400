"""The append-only file: every write command, RESP-encoded, in the order it ran.

Writing: ``feed(argv)`` is the engine's write listener; it is a bound ``list.append``
(a C call: the command path pays almost nothing per write). ``flush()`` encodes what was
fed in one pass (hiredis' C packer over ``map``), writes it to the file and, under
``appendfsync always``, fsyncs before returning. The shell
calls ``flush()`` before it sends the replies of a batch, so every acknowledged write is
on disk, and one fsync covers all the writes of a pipelined batch (group commit).
``everysec`` writes at the same point and leaves the fsync to a background thread once
per second; ``no`` leaves it to the kernel.

Reading: a file starts either with RESP commands or with a snapshot preamble (what a
rewrite produces) followed by commands. A command cut off by the end of the file, or a
MULTI without its EXEC at the end, is a torn last write: the valid prefix is kept and
the file truncated there, as Redis does with ``aof-load-truncated yes``. Anything else
that does not parse is corruption: loading stops with the file name and byte offset.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from hiredis import pack_command

from hld.store.persistence import snapshot

# hiredis' stub types its argument as a 1-tuple; it takes any tuple of bytes.
_pack: Callable[[tuple[bytes, ...]], bytes] = pack_command  # type: ignore[assignment]

FSYNC_POLICIES: Final = ("always", "everysec", "no")
# A single command in the AOF may not claim more arguments or bytes than the server
# accepts from a client (hld.store.limits), so a corrupt header cannot exhaust memory.
AOF_ARGS_MAX: Final = 1024 * 1024
AOF_BULK_BYTES_MAX: Final = 512 * 1024 * 1024


def encode(argv: list[bytes]) -> bytes:
    """The RESP array of bulk strings for ``argv`` (hiredis' C packer: ~3x a join)."""
    return _pack(tuple(argv))


def encode_slow(argv: list[bytes]) -> bytes:
    """The same bytes in plain Python: the reference the tests compare against."""
    parts = [b"*%d\r\n" % len(argv)]
    parts.extend(b"$%d\r\n%b\r\n" % (len(a), a) for a in argv)
    return b"".join(parts)


class CorruptFile(Exception):  # noqa: N818 - reads as the domain term
    """A persistence file cannot be loaded; the message names the file and offset."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"{path}: {reason} at byte offset {offset}")
        self.path = path
        self.offset = offset
        self.reason = reason


class _Truncated(Exception):  # noqa: N818
    """The data ended inside a command."""


class _Malformed(Exception):  # noqa: N818
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


def _line(data: bytes, pos: int, prefix: int, limit: int) -> tuple[int, int]:
    """Parse ``<prefix><int>\\r\\n`` at ``pos``: (value, position after the line)."""
    if pos >= len(data):
        raise _Truncated
    if data[pos] != prefix:
        raise _Malformed(pos, f"expected '{chr(prefix)}', found byte 0x{data[pos]:02x}")
    end = data.find(b"\r\n", pos + 1, pos + 24)
    if end < 0:
        if len(data) - pos < 24:
            raise _Truncated
        raise _Malformed(pos, "length line too long")
    digits = data[pos + 1:end]
    if not digits.isdigit():
        raise _Malformed(pos, f"bad length {digits[:20]!r}")
    value = int(digits)
    if value > limit:
        raise _Malformed(pos, f"length {value} exceeds the limit {limit}")
    return value, end + 2


def parse_command(data: bytes, pos: int) -> tuple[list[bytes], int]:
    """One RESP command at ``pos``; raises _Truncated or _Malformed."""
    count, pos = _line(data, pos, 42, AOF_ARGS_MAX)  # '*'
    if count == 0:
        raise _Malformed(pos, "empty command")
    argv = []
    for _ in range(count):
        size, pos = _line(data, pos, 36, AOF_BULK_BYTES_MAX)  # '$'
        end = pos + size
        if end + 2 > len(data):
            raise _Truncated
        if data[end:end + 2] != b"\r\n":
            raise _Malformed(end, "bulk string not followed by CRLF")
        argv.append(data[pos:end])
        pos = end + 2
    return argv, pos


@dataclass(frozen=True, slots=True)
class LoadResult:
    commands: int
    preamble_keys: int
    valid_bytes: int
    file_bytes: int

    @property
    def truncated(self) -> bool:
        return self.valid_bytes < self.file_bytes


def load(path: str, data: bytes, *, restore: Callable[[list[snapshot.Record]], None],
         apply: Callable[[list[bytes]], None], allow_truncated: bool = True) -> LoadResult:
    """Replay ``data`` (the contents of ``path``): preamble records, then commands.

    Commands of a MULTI are applied only once its EXEC is read, so a transaction cut off
    at the end of the file is dropped whole. Raises ``CorruptFile``.
    """
    pos = 0
    preamble_keys = 0
    if snapshot.is_snapshot(data):
        try:
            _, records, pos = snapshot.loads(data)
        except snapshot.CorruptSnapshot as exc:
            raise CorruptFile(path, exc.offset, exc.reason) from None
        restore(records)
        preamble_keys = len(records)
    commands = 0
    valid = pos
    transaction: list[list[bytes]] | None = None
    size = len(data)
    while pos < size:
        start = pos
        try:
            argv, pos = parse_command(data, pos)
        except _Truncated:
            if not allow_truncated:
                raise CorruptFile(path, start, "truncated command") from None
            break
        except _Malformed as exc:
            raise CorruptFile(path, exc.offset, exc.reason) from None
        name = argv[0].lower()
        if name == b"multi":
            transaction = []
            continue
        if transaction is not None:
            if name == b"exec":
                for queued in transaction:
                    apply(queued)
                commands += len(transaction)
                transaction = None
                valid = pos
            else:
                transaction.append(argv)
            continue
        apply(argv)
        commands += 1
        valid = pos
    if valid < size and not allow_truncated:
        raise CorruptFile(path, valid, "unfinished transaction")
    return LoadResult(commands, preamble_keys, valid, size)


class AppendOnlyFile:
    """The open AOF: a buffer of encoded commands and the policy for writing them."""

    def __init__(self, path: str, fsync_policy: str, *, open_path: str | None = None) -> None:
        """``open_path``: write there until the first rewrite is adopted as ``path`` (AOF
        switched on at run time: the file is complete only once it has a preamble)."""
        if fsync_policy not in FSYNC_POLICIES:
            raise ValueError(f"appendfsync must be one of {FSYNC_POLICIES}, not {fsync_policy}")
        self.path = path
        self.fsync_policy = fsync_policy
        self.fd = os.open(open_path or path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.pending: list[list[bytes]] = []
        # The listener: argv lists are kept as they are until the next flush.
        self.feed = self.pending.append
        self.buffer = bytearray()  # encoded but not yet written (after a write error)
        self.unsynced = False  # written but not yet fsynced (everysec's thread looks)
        self.write_errors = 0
        self.last_write_ok = True
        # While a rewrite runs, what is fed is also kept here, to append to the new file.
        self.rewrite_buffer: bytearray | None = None

    def flush(self) -> None:
        """Write what was fed; fsync too under ``always``. Raises OSError on failure."""
        pending = self.pending
        if pending:
            encoded = b"".join(map(_pack, map(tuple, pending)))
            pending.clear()
            self.buffer += encoded
            if self.rewrite_buffer is not None:
                self.rewrite_buffer += encoded
        if not self.buffer:
            return
        data = bytes(self.buffer)
        self.buffer.clear()
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                view = view[written:]
            if self.fsync_policy == "always":
                os.fsync(self.fd)
            else:
                self.unsynced = True
        except OSError:
            self.write_errors += 1
            self.last_write_ok = False
            # Keep what was not written, so a later flush retries it in order.
            self.buffer[:0] = view.tobytes()
            raise
        self.size += len(data)
        self.last_write_ok = True

    def fsync(self) -> None:
        if self.unsynced:
            self.unsynced = False
            os.fsync(self.fd)

    def close(self) -> None:
        try:
            self.flush()
            os.fsync(self.fd)
        finally:
            os.close(self.fd)
            self.fd = -1

    def replace_with(self, new_path: str) -> None:
        """Adopt a rewritten file: append what arrived meanwhile, rename over ours."""
        self.flush()
        tail = bytes(self.rewrite_buffer or b"")
        self.rewrite_buffer = None
        fd = os.open(new_path, os.O_WRONLY | os.O_APPEND)
        try:
            view = memoryview(tail)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(new_path, self.path)
        fsync_dir(os.path.dirname(os.path.abspath(self.path)))
        old = self.fd
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.size = os.fstat(self.fd).st_size
        os.close(old)


def fsync_dir(path: str) -> None:
    """Make a rename durable: fsync the directory holding the file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
