"""RESP2/RESP3 serializer: Python values to bytes.

Handlers in hld-store return replies already encoded (bytes), so the hot path never walks
a value tree; ``encode`` is the general path for structured replies. Plain Python types map
to the obvious RESP types (``bytes`` -> bulk string, ``int`` -> integer, ``None`` -> null,
``list``/``tuple`` -> array); RESP3-only types are small wrappers that degrade the way
Redis degrades them for a RESP2 client (a map becomes a flat array, a double a bulk
string, a push an array, a set an array).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CRLF = b"\r\n"
OK = b"+OK\r\n"
QUEUED = b"+QUEUED\r\n"
PONG = b"+PONG\r\n"
NULL_BULK = b"$-1\r\n"
NULL_ARRAY = b"*-1\r\n"
NULL3 = b"_\r\n"
EMPTY_ARRAY = b"*0\r\n"
ZERO = b":0\r\n"
ONE = b":1\r\n"

# Small integers are the most common integer replies (counts, booleans): encode once.
_SMALL_INTS = [b":%d\r\n" % i for i in range(-1, 1024)]
# Bulk string headers ($<len>\r\n) for the lengths most values have: a lookup and two
# concatenations cost half of what %-formatting costs per reply.
BULK_HEADERS_MAX = 4096
BULK_HEADERS = tuple(b"$%d\r\n" % n for n in range(BULK_HEADERS_MAX))


@dataclass(frozen=True, slots=True)
class SimpleString:
    """A status reply: ``+OK``."""

    value: str


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An error reply; the message starts with its code (``ERR``, ``WRONGTYPE``...)."""

    message: str


@dataclass(frozen=True, slots=True)
class Double:
    """A RESP3 double; a bulk string in RESP2."""

    value: float


@dataclass(frozen=True, slots=True)
class BigNumber:
    """A RESP3 big number; a bulk string in RESP2."""

    value: int


@dataclass(frozen=True, slots=True)
class Verbatim:
    """A RESP3 verbatim string with its three-letter format; a bulk string in RESP2."""

    format: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Map:
    """A RESP3 map (ordered pairs); a flat array in RESP2."""

    pairs: tuple[tuple[Any, Any], ...]

    @classmethod
    def of(cls, mapping: dict[Any, Any]) -> Map:
        return cls(tuple(mapping.items()))


@dataclass(frozen=True, slots=True)
class RespSet:
    """A RESP3 set; an array in RESP2."""

    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Push:
    """A RESP3 out-of-band push (pub/sub messages); an array in RESP2."""

    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Attribute:
    """A RESP3 attribute map attached to the reply that follows it (parsed, rarely sent)."""

    pairs: tuple[tuple[Any, Any], ...]
    value: Any


class _NullArray:
    """The RESP2 null array (``*-1``); plain null in RESP3."""

    def __repr__(self) -> str:
        return "NULL_ARRAY"


Null = None
NULL_ARRAY_VALUE = _NullArray()


def integer(n: int) -> bytes:
    if -1 <= n < 1023:
        return _SMALL_INTS[n + 1]
    return b":%d\r\n" % n


def bulk(value: bytes) -> bytes:
    n = len(value)
    if n < BULK_HEADERS_MAX:
        return BULK_HEADERS[n] + value + CRLF
    return b"$%d\r\n%b\r\n" % (n, value)  # one copy of a large value, not two


def bulk_or_null(value: bytes | None, proto: int = 2) -> bytes:
    if value is None:
        return NULL3 if proto == 3 else NULL_BULK
    return bulk(value)


def null(proto: int) -> bytes:
    return NULL3 if proto == 3 else NULL_BULK


def null_array(proto: int) -> bytes:
    return NULL3 if proto == 3 else NULL_ARRAY


def error(message: str) -> bytes:
    # A CR or LF inside an error would end the line early and desynchronise the client.
    return b"-" + message.replace("\r", " ").replace("\n", " ").encode() + CRLF


def simple(message: str) -> bytes:
    return b"+" + message.encode() + CRLF


def bulks(values: list[bytes] | tuple[bytes, ...]) -> bytes:
    """An array of bulk strings, built in one join."""
    parts = [b"*%d\r\n" % len(values)]
    for v in values:
        n = len(v)
        parts += (BULK_HEADERS[n], v, CRLF) if n < BULK_HEADERS_MAX else (b"$%d\r\n" % n, v, CRLF)
    return b"".join(parts)


def bulks_or_nulls(values: list[bytes | None], proto: int = 2) -> bytes:
    nil = NULL3 if proto == 3 else NULL_BULK
    parts = [b"*%d\r\n" % len(values)]
    for v in values:
        if v is None:
            parts.append(nil)
        else:
            n = len(v)
            parts += (BULK_HEADERS[n], v, CRLF) if n < BULK_HEADERS_MAX \
                else (b"$%d\r\n" % n, v, CRLF)
    return b"".join(parts)


def format_double(value: float) -> bytes:
    """Redis' ``%.17g`` rendering, with inf/-inf/nan spelt as Redis spells them."""
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if math.isnan(value):
        return b"nan"
    return (b"%.17g" % value)


def format_float_human(value: float) -> bytes:
    """The shortest round-trip rendering without exponent (INCRBYFLOAT, HINCRBYFLOAT)."""
    if value == int(value) and abs(value) < 1e17:
        return b"%d" % int(value)
    text = repr(value)
    if "e" in text or "E" in text:
        text = f"{value:.17f}".rstrip("0").rstrip(".")
    return text.encode()


def double(value: float, proto: int) -> bytes:
    if proto == 3:
        return b"," + format_double(value) + CRLF
    return bulk(format_double(value))


def array_header(n: int) -> bytes:
    return b"*%d\r\n" % n


def map_header(n_pairs: int, proto: int) -> bytes:
    return b"%%%d\r\n" % n_pairs if proto == 3 else b"*%d\r\n" % (2 * n_pairs)


def set_header(n: int, proto: int) -> bytes:
    return b"~%d\r\n" % n if proto == 3 else b"*%d\r\n" % n


def push_header(n: int, proto: int) -> bytes:
    return b">%d\r\n" % n if proto == 3 else b"*%d\r\n" % n


def encode(value: Any, proto: int = 2) -> bytes:
    """Encode any supported value (see the module docstring) for protocol ``proto``."""
    out: list[bytes] = []
    _encode(value, proto, out)
    return b"".join(out)


def _encode(value: Any, proto: int, out: list[bytes]) -> None:
    if value is None:
        out.append(NULL3 if proto == 3 else NULL_BULK)
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        out.append(b"$%d\r\n%b\r\n" % (len(data), data))
    elif isinstance(value, bool):
        if proto == 3:
            out.append(b"#t\r\n" if value else b"#f\r\n")
        else:
            out.append(ONE if value else ZERO)
    elif isinstance(value, int):
        out.append(b":%d\r\n" % value)
    elif isinstance(value, str):
        out.append(bulk(value.encode()))
    elif isinstance(value, list | tuple):
        out.append(b"*%d\r\n" % len(value))
        for item in value:
            _encode(item, proto, out)
    elif isinstance(value, float | Double):
        number = value.value if isinstance(value, Double) else value
        out.append(double(number, proto))
    elif isinstance(value, SimpleString):
        out.append(simple(value.value))
    elif isinstance(value, ErrorReply):
        out.append(error(value.message))
    elif isinstance(value, Map | dict):
        pairs = tuple(value.items()) if isinstance(value, dict) else value.pairs
        out.append(map_header(len(pairs), proto))
        for key, item in pairs:
            _encode(key, proto, out)
            _encode(item, proto, out)
    elif isinstance(value, RespSet | set | frozenset):
        items = value.items if isinstance(value, RespSet) else tuple(value)
        out.append(set_header(len(items), proto))
        for item in items:
            _encode(item, proto, out)
    elif isinstance(value, Push):
        out.append(push_header(len(value.items), proto))
        for item in value.items:
            _encode(item, proto, out)
    elif isinstance(value, BigNumber):
        text = b"%d" % value.value
        out.append(b"(" + text + CRLF if proto == 3 else bulk(text))
    elif isinstance(value, Verbatim):
        if proto == 3:
            body = value.format.encode() + b":" + value.value
            out.append(b"=%d\r\n%b\r\n" % (len(body), body))
        else:
            out.append(bulk(value.value))
    elif isinstance(value, Attribute):
        if proto == 3:
            out.append(b"|%d\r\n" % len(value.pairs))
            for key, item in value.pairs:
                _encode(key, proto, out)
                _encode(item, proto, out)
        _encode(value.value, proto, out)
    elif value is NULL_ARRAY_VALUE:
        out.append(NULL3 if proto == 3 else NULL_ARRAY)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as RESP")
