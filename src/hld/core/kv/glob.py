"""Redis glob patterns (KEYS, SCAN MATCH, PSUBSCRIBE, PUBSUB CHANNELS) over bytes.

Redis' ``stringmatch``: ``*`` any run, ``?`` one byte, ``[abc]``, ``[^abc]``, ``[a-z]``,
and ``\\`` escaping the next byte. Patterns are translated to a compiled ``re`` bytes
regex once (the C regex engine beats a Python-level matcher); an unterminated ``[`` is
taken literally, as Redis does.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def translate(pattern: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i : i + 1]
        if c == b"*":
            out += b".*"
        elif c == b"?":
            out += b"."
        elif c == b"\\" and i + 1 < n:
            i += 1
            out += re.escape(pattern[i : i + 1])
        elif c == b"[":
            end = pattern.find(b"]", i + 1)
            if end < 0:
                out += re.escape(c)
            else:
                body = pattern[i + 1 : end]
                negate = body.startswith(b"^")
                if negate:
                    body = body[1:]
                cls = bytearray()
                j = 0
                while j < len(body):
                    if body[j : j + 1] == b"\\" and j + 1 < len(body):
                        j += 1
                        cls += re.escape(body[j : j + 1])
                    elif j + 2 < len(body) and body[j + 1 : j + 2] == b"-":
                        lo, hi = sorted((body[j], body[j + 2]))
                        cls += re.escape(bytes([lo])) + b"-" + re.escape(bytes([hi]))
                        j += 2
                    else:
                        cls += re.escape(body[j : j + 1])
                    j += 1
                if not cls:
                    out += b"(?!)" if not negate else b"."
                else:
                    out += b"[" + (b"^" if negate else b"") + bytes(cls) + b"]"
                i = end
        else:
            out += re.escape(c)
        i += 1
    return bytes(out)


def compile_glob(pattern: bytes) -> Callable[[bytes], bool]:
    """A predicate answering whether a key matches ``pattern``."""
    if pattern == b"*":
        return lambda _key: True
    regex = re.compile(translate(pattern) + rb"\Z", re.DOTALL)
    match = regex.match
    return lambda key: match(key) is not None
