"""Error replies worded as Redis words them, and argument parsers that produce them.

Clients match on these strings (redis-py maps ``WRONGTYPE``, ``NOAUTH``, ``OOM``... to
exception classes), so they are constants here, encoded once. Argument parsers raise
``CommandError`` carrying the encoded reply; the handler wrapper in the engine is not
involved: handlers catch nothing, ``hld.store.commands`` wraps each family's handlers so
a ``CommandError`` becomes its reply.
"""

from __future__ import annotations

import math
from typing import Final

from hld.core.resp.serializer import error

WRONGTYPE: Final = error("WRONGTYPE Operation against a key holding the wrong kind of value")
SYNTAX: Final = error("ERR syntax error")
NOT_INTEGER: Final = error("ERR value is not an integer or out of range")
NOT_FLOAT: Final = error("ERR value is not a valid float")
OVERFLOW: Final = error("ERR increment or decrement would overflow")
NO_SUCH_KEY: Final = error("ERR no such key")
INDEX_OUT_OF_RANGE: Final = error("ERR index out of range")
NAN_OR_INF: Final = error("ERR increment would produce NaN or Infinity")
TIMEOUT_NOT_FLOAT: Final = error("ERR timeout is not a float or out of range")
TIMEOUT_NEGATIVE: Final = error("ERR timeout is negative")

INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1


class CommandError(Exception):
    """Abort a handler with ``reply`` (an encoded error)."""

    def __init__(self, reply: bytes) -> None:
        super().__init__(reply)
        self.reply = reply


def parse_int(value: bytes, reply: bytes = NOT_INTEGER) -> int:
    """A signed 64-bit integer written as Redis accepts it (no spaces, no '+')."""
    if not value or len(value) > 20 or value[:1] in (b"+", b" ") or value[-1:] == b" ":
        raise CommandError(reply)
    try:
        n = int(value)
    except ValueError:
        raise CommandError(reply) from None
    if not INT64_MIN <= n <= INT64_MAX or (value[:1] == b"0" and len(value) > 1) \
            or value[:2] == b"-0" or b"_" in value:
        raise CommandError(reply)
    return n


def parse_float(value: bytes, reply: bytes = NOT_FLOAT) -> float:
    """A double as Redis' strtod accepts it; NaN is refused."""
    text = value.strip()
    if not value or text != value or b"_" in value:
        raise CommandError(reply)
    try:
        x = float(value)
    except ValueError:
        raise CommandError(reply) from None
    if math.isnan(x):
        raise CommandError(reply)
    return x


def upper(value: bytes) -> bytes:
    return value.upper()
