"""RESP2/RESP3 parser, sans-IO, in the style of h11: ``feed(bytes)``, ``next_event()``.

The parser accepts a byte stream in any fragmentation and yields one complete value at a
time, or ``NEED_DATA``. It reads requests (arrays of bulk strings, and the inline form
``SET k v\\r\\n`` that telnet users type) and every RESP3 reply type, so the same code
serves the server, tests and replication clients. Strategy: parse from the start of the
first incomplete value each time and keep the buffer until a value completes; a value
that is incomplete costs a re-parse, which only matters for values split across many
reads, and the limits bound how large such a value can grow. Limits are arguments (the
store names its values in ``hld.store.limits``); a violation raises ``ProtocolError`` with
Redis' wording, and the caller closes that connection only.
"""

from __future__ import annotations

from typing import Any, Final

from hld.core.resp.serializer import (
    NULL_ARRAY_VALUE,
    Attribute,
    BigNumber,
    Double,
    ErrorReply,
    Map,
    Push,
    RespSet,
    SimpleString,
    Verbatim,
)


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()


class ProtocolError(Exception):
    """The peer sent bytes that are not RESP; the message is Redis' wording."""


class _Incomplete(Exception):  # noqa: N818 - internal control flow, not an error
    pass


_INCOMPLETE = _Incomplete()
_TYPE_BYTES = frozenset(b"+-:$*%~,_#(=>|!")

# Defaults match redis-server's: proto-max-bulk-len 512 MB, 1M-element multibulk (it
# refuses more than 1024*1024 arguments), 64 KB inline requests, nesting depth for replies.
BULK_BYTES_MAX_DEFAULT: Final = 512 * 1024 * 1024
MULTIBULK_LEN_MAX_DEFAULT: Final = 1024 * 1024
INLINE_BYTES_MAX_DEFAULT: Final = 64 * 1024
DEPTH_MAX_DEFAULT: Final = 64


class RespParser:
    """Incremental parser for one direction of one connection."""

    def __init__(self, *, requests: bool = False,
                 bulk_bytes_max: int = BULK_BYTES_MAX_DEFAULT,
                 multibulk_len_max: int = MULTIBULK_LEN_MAX_DEFAULT,
                 inline_bytes_max: int = INLINE_BYTES_MAX_DEFAULT,
                 depth_max: int = DEPTH_MAX_DEFAULT) -> None:
        """``requests=True`` accepts inline commands and only arrays of bulk strings."""
        self._buf = bytearray()
        self._requests = requests
        self._bulk_max = bulk_bytes_max
        self._mb_max = multibulk_len_max
        self._inline_max = inline_bytes_max
        self._depth_max = depth_max

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf)

    def next_event(self) -> Any:
        """The next complete value, or ``NEED_DATA``; raises ``ProtocolError``."""
        buf = self._buf
        while True:
            if not buf:
                return NEED_DATA
            if self._requests and buf[0] != 0x2A:  # not '*': an inline command
                end = buf.find(b"\n")
                if end < 0:
                    if len(buf) > self._inline_max:
                        raise ProtocolError("too big inline request")
                    return NEED_DATA
                line = bytes(buf[:end]).rstrip(b"\r")
                del buf[: end + 1]
                args = split_inline(line)
                if not args:  # blank lines are ignored, as Redis does
                    continue
                return args
            try:
                value, pos = self._parse(0, 0)
            except _Incomplete:
                return NEED_DATA
            del buf[:pos]
            return value

    def _line(self, pos: int) -> tuple[bytes, int]:
        buf = self._buf
        end = buf.find(b"\r\n", pos)
        if end < 0:
            if len(buf) - pos > self._inline_max:
                raise ProtocolError("too big header line")
            raise _INCOMPLETE
        return bytes(buf[pos:end]), end + 2

    def _int(self, text: bytes, what: str) -> int:
        try:
            return int(text)
        except ValueError:
            raise ProtocolError(f"invalid {what}") from None

    def _parse(self, pos: int, depth: int) -> tuple[Any, int]:
        if depth > self._depth_max:
            raise ProtocolError("reply nested too deeply")
        buf = self._buf
        if pos >= len(buf):
            raise _INCOMPLETE
        kind = buf[pos]
        if self._requests:
            if depth == 0 and kind != 0x2A:
                raise ProtocolError(f"expected '*', got '{chr(kind)}'")
            if depth == 1 and kind != 0x24:
                raise ProtocolError(f"expected '$', got '{chr(kind)}'")
        line, pos = self._line(pos + 1)
        if kind in (0x24, 0x21, 0x3D):  # $ ! = : length-prefixed
            length = self._int(line, "bulk length")
            if length == -1 and kind == 0x24:
                return None, pos
            if length < 0 or length > self._bulk_max:
                raise ProtocolError("invalid bulk length")
            if len(buf) < pos + length + 2:
                raise _INCOMPLETE
            data = bytes(buf[pos: pos + length])
            if buf[pos + length: pos + length + 2] != b"\r\n":
                raise ProtocolError("bulk string not terminated by CRLF")
            pos += length + 2
            if kind == 0x24:
                return data, pos
            if kind == 0x21:
                return ErrorReply(data.decode(errors="replace")), pos
            fmt, _, body = data.partition(b":")
            return Verbatim(fmt.decode(errors="replace"), body), pos
        if kind in (0x2A, 0x25, 0x7E, 0x3E, 0x7C):  # * % ~ > | : aggregates
            count = self._int(line, "multibulk length")
            if kind == 0x2A and count == -1:
                return NULL_ARRAY_VALUE, pos
            if count < 0 or count > self._mb_max:
                raise ProtocolError("invalid multibulk length")
            n_items = count * 2 if kind in (0x25, 0x7C) else count
            items = []
            for _ in range(n_items):
                item, pos = self._parse(pos, depth + 1)
                items.append(item)
            if kind == 0x2A:
                return items, pos
            if kind == 0x7E:
                return RespSet(tuple(items)), pos
            if kind == 0x3E:
                return Push(tuple(items)), pos
            pairs = tuple(zip(items[0::2], items[1::2], strict=True))
            if kind == 0x25:
                return Map(pairs), pos
            value, pos = self._parse(pos, depth)
            return Attribute(pairs, value), pos
        if kind == 0x2B:
            return SimpleString(line.decode(errors="replace")), pos
        if kind == 0x2D:
            return ErrorReply(line.decode(errors="replace")), pos
        if kind == 0x3A:
            return self._int(line, "integer"), pos
        if kind == 0x5F:
            return None, pos
        if kind == 0x2C:
            try:
                return Double(float(line)), pos
            except ValueError:
                raise ProtocolError("invalid double") from None
        if kind == 0x23:
            if line not in (b"t", b"f"):
                raise ProtocolError("invalid boolean")
            return line == b"t", pos
        if kind == 0x28:
            return BigNumber(self._int(line, "big number")), pos
        raise ProtocolError(f"unknown reply type byte {chr(kind)!r}")


def check_request_headers(data: bytes, multibulk_len_max: int, bulk_bytes_max: int) -> str | None:
    """Refuse out-of-range counts or lengths in the headers at the start of ``data``.

    The fast C reader would wait for a 2 GB bulk string to arrive; this looks at the
    headers present in ``data`` (which should start at a request) and returns Redis'
    protocol error message when a count or length is a valid integer out of range. It
    says nothing about malformed headers (the caller's parser reports those), so that a
    chunk that only looks like a request start is never refused wrongly.
    """
    end = data.find(b"\r\n")
    if not data.startswith(b"*") or end < 0:
        return None
    try:
        count = int(data[1:end])
    except ValueError:
        return None
    if count > multibulk_len_max:
        return "invalid multibulk length"
    pos = end + 2
    for _ in range(max(count, 0)):
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None
        if data[pos:pos + 1] in (b"*", b"%", b"~", b">", b"|"):
            # A nested aggregate is never valid in a request; a huge one would make the C
            # reader allocate its element table before anything else could refuse it.
            try:
                nested = int(data[pos + 1:end])
            except ValueError:
                return None
            return "invalid multibulk length" if nested > multibulk_len_max else None
        if data[pos:pos + 1] != b"$":
            return None
        try:
            length = int(data[pos + 1:end])
        except ValueError:
            return None
        if length > bulk_bytes_max:
            return "invalid bulk length"
        pos = end + 2 + length + 2
        if pos > len(data):
            return None
    return None


_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b",
            ord("a"): b"\a"}
_HEX = frozenset(b"0123456789abcdefABCDEF")
_SPACE = frozenset(b" \t\r\n\v\f\x00")


def split_inline(line: bytes) -> list[bytes]:
    """Split an inline command the way Redis' ``sdssplitargs`` does.

    Words are separated by blanks; "double quotes" understand \\n \\r \\t \\b \\a \\xHH and
    backslash escapes; 'single quotes' only \\'. A closing quote must be followed by a
    blank. Unbalanced quotes raise ``ProtocolError("unbalanced quotes in request")``.
    """
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        word = bytearray()
        in_dq = in_sq = False
        while True:
            if in_dq:
                if i >= n:
                    raise ProtocolError("unbalanced quotes in request")
                c = line[i]
                if (c == 0x5C and i + 3 < n and line[i + 1] == ord("x")
                        and line[i + 2] in _HEX and line[i + 3] in _HEX):
                    word.append(int(line[i + 2:i + 4], 16))
                    i += 3
                elif c == 0x5C and i + 1 < n:
                    i += 1
                    word += _ESCAPES.get(line[i], bytes([line[i]]))
                elif c == 0x22:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        raise ProtocolError("unbalanced quotes in request")
                    i += 1
                    break
                else:
                    word.append(c)
            elif in_sq:
                if i >= n:
                    raise ProtocolError("unbalanced quotes in request")
                c = line[i]
                if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    i += 1
                    word.append(0x27)
                elif c == 0x27:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        raise ProtocolError("unbalanced quotes in request")
                    i += 1
                    break
                else:
                    word.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in _SPACE:
                    break
                if c == 0x22:
                    in_dq = True
                elif c == 0x27:
                    in_sq = True
                else:
                    word.append(c)
            i += 1
        args.append(bytes(word))


def is_type_byte(byte: int) -> bool:
    return byte in _TYPE_BYTES
