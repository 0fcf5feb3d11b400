"""The snapshot format: every key of the keyspace, typed, with a checksum.

Layout (integers little-endian; ``bytes`` is a u32 length then the bytes)::

    magic "HLDSNAP\\0"  u16 version  u16 n_aux  (bytes name, bytes value) * n_aux
    record*             u8 type, bytes key, i64 expire_at_ms (-1: none), value
    u8 0xFF             end of records
    u32 crc32           of everything from the magic to the end marker

A value is, by type: string ``bytes``; hash/list/set a u32 count and their elements;
zset a count of (bytes member, f64 score); HyperLogLog its register bytes; stream its
metadata, entries, and groups with consumers and pending entries. The same bytes serve
SAVE/BGSAVE files, the preamble of a rewritten AOF, and a full resync payload.

Loading parses everything into records first and checks the checksum before the
keyspace is touched, so a damaged file never half-loads. Every read is bounded by the
bytes left, so a corrupt length cannot make the loader allocate gigabytes; errors name
the byte offset.
"""

from __future__ import annotations

import importlib
import struct
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, Final

from hld.core.stream.stream import Consumer, PendingEntry, Stream

MAGIC: Final = b"HLDSNAP\x00"
VERSION: Final = 1
END: Final = 0xFF

T_STRING, T_HASH, T_LIST, T_SET, T_ZSET, T_HLL, T_STREAM = range(1, 8)

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")
_ID_BYTES = 16  # a packed stream ID: ms and seq, two u64
_RECORD_HEAD = struct.Struct("<BI")  # type, key length
_STRING_TAIL = struct.Struct("<qI")  # expire_at_ms, value length

# Write in chunks of about this many bytes, so a huge keyspace streams to the file
# instead of being built in memory first.
WRITE_CHUNK_BYTES: Final = 1 << 20


class CorruptSnapshot(Exception):  # noqa: N818 - reads as the domain term
    """The bytes are not a valid snapshot; ``offset`` is where that was found."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} at byte offset {offset}")
        self.offset = offset
        self.reason = reason


# -- encoding ---------------------------------------------------------------------------

def _b(data: bytes) -> bytes:
    return _U32.pack(len(data)) + data


def _sid(entry_id: int) -> bytes:
    return entry_id.to_bytes(_ID_BYTES, "big")


def _zset_items(value: Any) -> list[tuple[bytes, float]]:
    return list(value.items())


def encode_value(value: Any) -> tuple[int, bytes]:
    """(type byte, encoded value) of one keyspace value."""
    kind = type(value)
    if kind is bytes:
        return T_STRING, _b(value)
    if kind is dict:
        parts = [_U32.pack(len(value))]
        for field, item in value.items():
            parts.append(_b(field))
            parts.append(_b(item))
        return T_HASH, b"".join(parts)
    if kind is deque or kind is set:
        parts = [_U32.pack(len(value))]
        parts.extend(_b(item) for item in value)
        return (T_LIST if kind is deque else T_SET), b"".join(parts)
    if kind is Stream:
        return T_STREAM, _encode_stream(value)
    name = kind.__name__
    if name == "HyperLogLog":
        return T_HLL, _b(value.to_bytes())
    if name == "ZSet":
        items = _zset_items(value)
        parts = [_U32.pack(len(items))]
        for member, score in items:
            parts.append(_b(member))
            parts.append(_F64.pack(score))
        return T_ZSET, b"".join(parts)
    raise TypeError(f"cannot snapshot a value of type {name}")


def _encode_stream(stream: Stream) -> bytes:
    parts = [_sid(stream.last_id), _sid(stream.max_deleted_id),
             _U64.pack(stream.entries_added)]
    entries = stream.entries()
    parts.append(_U32.pack(len(entries)))
    for entry_id, fields in entries:
        parts.append(_sid(entry_id))
        parts.append(_U32.pack(len(fields)))
        parts.extend(_b(f) for f in fields)
    parts.append(_U32.pack(len(stream.groups)))
    for group in stream.groups.values():
        parts.append(_b(group.name))
        parts.append(_sid(group.last_id))
        parts.append(_I64.pack(-1 if group.entries_read is None else group.entries_read))
        parts.append(_U32.pack(len(group.consumers)))
        for consumer in group.consumers.values():
            parts.append(_b(consumer.name))
            parts.append(_I64.pack(consumer.seen_time_ms))
        parts.append(_U32.pack(len(group.pel)))
        for entry_id in sorted(group.pel):
            pending = group.pel[entry_id]
            parts.append(_sid(entry_id))
            parts.append(_b(pending.consumer.name))
            parts.append(_I64.pack(pending.delivery_time_ms))
            parts.append(_U64.pack(pending.delivery_count))
    return b"".join(parts)


def iter_chunks(items: Iterable[tuple[bytes, bytes, Any, int | None]],
                aux: dict[bytes, bytes]) -> Iterator[bytes]:
    """The snapshot of ``items`` (``Keyspace.items()`` tuples) as chunks; crc32 last."""
    crc = 0
    head = [MAGIC, _U16.pack(VERSION), _U16.pack(len(aux))]
    for name, value in aux.items():
        head.append(_b(name))
        head.append(_b(value))
    chunk = bytearray(b"".join(head))
    record_head = _RECORD_HEAD.pack
    for key, _type_name, value, expire_at_ms in items:
        expire = -1 if expire_at_ms is None else expire_at_ms
        if type(value) is bytes:  # the common case, in one pack and three appends
            chunk += record_head(T_STRING, len(key))
            chunk += key
            chunk += _STRING_TAIL.pack(expire, len(value))
            chunk += value
        else:
            kind, encoded = encode_value(value)
            chunk += record_head(kind, len(key))
            chunk += key
            chunk += _I64.pack(expire)
            chunk += encoded
        if len(chunk) >= WRITE_CHUNK_BYTES:
            crc = zlib.crc32(chunk, crc)
            yield bytes(chunk)
            chunk = bytearray()
    chunk += _U8.pack(END)
    crc = zlib.crc32(chunk, crc)
    chunk += _U32.pack(crc)
    yield bytes(chunk)


def dumps(items: Iterable[tuple[bytes, bytes, Any, int | None]],
          aux: dict[bytes, bytes] | None = None) -> bytes:
    return b"".join(iter_chunks(items, aux or {}))


def write(out: BinaryIO, items: Iterable[tuple[bytes, bytes, Any, int | None]],
          aux: dict[bytes, bytes] | None = None) -> int:
    """Write a snapshot to an open binary file; returns the bytes written."""
    written = 0
    for chunk in iter_chunks(items, aux or {}):
        out.write(chunk)
        written += len(chunk)
    return written


# -- decoding ---------------------------------------------------------------------------

class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes | memoryview, pos: int) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise CorruptSnapshot(self.pos, f"unexpected end of data (need {n} bytes)")
        chunk = bytes(self.data[self.pos:end])
        self.pos = end
        return chunk

    def u8(self) -> int:
        return int(_U8.unpack(self.take(1))[0])

    def u16(self) -> int:
        return int(_U16.unpack(self.take(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack(self.take(4))[0])

    def i64(self) -> int:
        return int(_I64.unpack(self.take(8))[0])

    def u64(self) -> int:
        return int(_U64.unpack(self.take(8))[0])

    def f64(self) -> float:
        return float(_F64.unpack(self.take(8))[0])

    def blob(self) -> bytes:
        return self.take(self.u32())

    def sid(self) -> int:
        return int.from_bytes(self.take(_ID_BYTES), "big")

    def count(self, min_item_bytes: int) -> int:
        """An element count, refused if the bytes left cannot possibly hold it."""
        at = self.pos
        n = self.u32()
        if n * min_item_bytes > len(self.data) - self.pos:
            raise CorruptSnapshot(at, f"count {n} exceeds the data left")
        return n


Record = tuple[bytes, Any, int | None]


def _decode_value(reader: _Reader, kind: int, at: int) -> Any:
    if kind == T_STRING:
        return reader.blob()
    if kind == T_HASH:
        n = reader.count(8)
        return {reader.blob(): reader.blob() for _ in range(n)}
    if kind == T_LIST:
        n = reader.count(4)
        return deque(reader.blob() for _ in range(n))
    if kind == T_SET:
        n = reader.count(4)
        return {reader.blob() for _ in range(n)}
    if kind == T_ZSET:
        # Imported by name: the sorted-set module belongs to the keyspace side.
        zset_class = importlib.import_module("hld.core.kv.zset").ZSet
        n = reader.count(12)
        return zset_class.from_items([(reader.blob(), reader.f64()) for _ in range(n)])
    if kind == T_HLL:
        from hld.core.kv.hll import HyperLogLog

        hll = HyperLogLog.from_bytes(reader.blob())
        if hll is None:
            raise CorruptSnapshot(at, "invalid HyperLogLog registers")
        return hll
    if kind == T_STREAM:
        return _decode_stream(reader)
    raise CorruptSnapshot(at, f"unknown value type {kind}")


def _decode_stream(reader: _Reader) -> Stream:
    stream = Stream()
    last_id, max_deleted, entries_added = reader.sid(), reader.sid(), reader.u64()
    for _ in range(reader.count(_ID_BYTES + 4)):
        at = reader.pos
        entry_id = reader.sid()
        fields = tuple(reader.blob() for _ in range(reader.count(4)))
        try:
            stream.append(entry_id, fields)
        except ValueError:
            raise CorruptSnapshot(at, "stream entry IDs out of order") from None
    stream.restore_meta(last_id=last_id, max_deleted_id=max_deleted,
                        entries_added=entries_added)
    for _ in range(reader.count(4 + _ID_BYTES + 8 + 8)):
        name = reader.blob()
        group_last = reader.sid()
        entries_read = reader.i64()
        group = stream.create_group(name, group_last, None if entries_read < 0 else entries_read)
        for _ in range(reader.count(12)):
            consumer_name = reader.blob()
            group.consumers[consumer_name] = Consumer(consumer_name, reader.i64())
        for _ in range(reader.count(_ID_BYTES + 20)):
            at = reader.pos
            entry_id = reader.sid()
            owner = group.consumers.get(reader.blob())
            if owner is None:
                raise CorruptSnapshot(at, "pending entry of an unknown consumer")
            pending = PendingEntry(owner, reader.i64(), reader.u64())
            group.restore_pending(entry_id, pending)
    return stream


def loads(data: bytes | memoryview, start: int = 0,
          ) -> tuple[dict[bytes, bytes], list[Record], int]:
    """Parse a snapshot at ``start``: (aux, records, offset just after the checksum)."""
    reader = _Reader(data, start)
    if reader.take(len(MAGIC)) != MAGIC:
        raise CorruptSnapshot(start, "not an hld snapshot (bad magic)")
    version_at = reader.pos
    version = reader.u16()
    if version != VERSION:
        raise CorruptSnapshot(version_at, f"unsupported snapshot version {version}")
    aux = {}
    for _ in range(reader.u16()):
        name = reader.blob()
        aux[name] = reader.blob()
    records: list[Record] = []
    append = records.append
    buffer = reader.data
    size = len(buffer)
    head_from = _RECORD_HEAD.unpack_from
    tail_from = _STRING_TAIL.unpack_from
    pos = reader.pos
    # Strings are read inline (most keys are strings); other types through the reader.
    while True:
        at = pos
        if pos + 5 > size:
            if pos < size and buffer[pos] == END:
                pos += 1
                break
            raise CorruptSnapshot(pos, "unexpected end of data (record header)")
        kind, key_len = head_from(buffer, pos)
        if kind == END:
            pos += 1
            break
        pos += 5
        key_end = pos + key_len
        if key_end + 12 > size:
            raise CorruptSnapshot(at, f"key length {key_len} exceeds the data left")
        key = bytes(buffer[pos:key_end])
        if kind == T_STRING:
            expire, value_len = tail_from(buffer, key_end)
            pos = key_end + 12
            if pos + value_len > size:
                raise CorruptSnapshot(key_end + 8,
                                      f"value length {value_len} exceeds the data left")
            append((key, bytes(buffer[pos:pos + value_len]), None if expire < 0 else expire))
            pos += value_len
            continue
        reader.pos = key_end
        expire = reader.i64()
        append((key, _decode_value(reader, kind, at), None if expire < 0 else expire))
        pos = reader.pos
    reader.pos = pos
    crc_at = reader.pos
    expected = reader.u32()
    actual = zlib.crc32(data[start:crc_at])
    if actual != expected:
        raise CorruptSnapshot(crc_at, f"checksum mismatch (stored {expected:08x}, "
                                      f"computed {actual:08x})")
    return aux, records, reader.pos


def is_snapshot(data: bytes | memoryview) -> bool:
    return bytes(data[:len(MAGIC)]) == MAGIC
