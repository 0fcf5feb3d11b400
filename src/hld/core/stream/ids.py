"""Stream entry IDs: ``<ms>-<seq>`` packed into one int, and their parsing.

An ID is two unsigned 64-bit numbers, milliseconds and a sequence. Packing them as
``ms << 64 | seq`` keeps the order (compare ms, then seq) while making every comparison,
bisect and dict lookup an int operation, which is several times cheaper in Python than a
tuple. Parsing follows Redis's rules and words its errors as Redis does, because clients
match on them.
"""

from __future__ import annotations

from hld.core.stream.errors import (
    ERR_ADD_ID_TOO_SMALL,
    ERR_ADD_ID_ZERO,
    ERR_INVALID_ID,
    StreamError,
)

SEQ_BITS = 64
SEQ_MAX = (1 << SEQ_BITS) - 1
MS_MAX = (1 << 64) - 1
ID_MIN = 0
ID_MAX = (MS_MAX << SEQ_BITS) | SEQ_MAX


def make_id(ms: int, seq: int) -> int:
    return (ms << SEQ_BITS) | seq


def id_ms(stream_id: int) -> int:
    return stream_id >> SEQ_BITS


def id_seq(stream_id: int) -> int:
    return stream_id & SEQ_MAX


def format_id(stream_id: int) -> bytes:
    return b"%d-%d" % (stream_id >> SEQ_BITS, stream_id & SEQ_MAX)


def _u64(text: bytes) -> int:
    # Redis accepts only plain decimal digits here (no sign, no spaces, no '+').
    if not text or not text.isdigit() or len(text) > 20:
        raise StreamError(ERR_INVALID_ID)
    value = int(text)
    if value > MS_MAX:
        raise StreamError(ERR_INVALID_ID)
    return value


def parse_id(raw: bytes, *, missing_seq: int = 0) -> int:
    """A complete or partial ID; ``ms`` alone takes ``missing_seq``; ``-``/``+`` the extremes."""
    if raw == b"-":
        return ID_MIN
    if raw == b"+":
        return ID_MAX
    ms_text, dash, seq_text = raw.partition(b"-")
    ms = _u64(ms_text)
    seq = _u64(seq_text) if dash else missing_seq
    return make_id(ms, seq)


def parse_range_bound(raw: bytes, *, is_start: bool) -> int | None:
    """A range endpoint for XRANGE/XPENDING/XAUTOCLAIM; ``None`` means the range is empty.

    ``(id`` excludes the id: it becomes the next (start) or previous (end) id, and
    ``None`` when there is no such id (``(+`` as a start or ``(-`` as an end).
    """
    exclusive = raw.startswith(b"(")
    body = raw[1:] if exclusive else raw
    if exclusive and body in (b"-", b"+"):
        # Redis rejects an exclusive open end: there is nothing beyond the extremes.
        raise StreamError(ERR_INVALID_ID)
    value = parse_id(body, missing_seq=0 if is_start else SEQ_MAX)
    if not exclusive:
        return value
    if is_start:
        return None if value == ID_MAX else value + 1
    return None if value == ID_MIN else value - 1


def parse_strict_id(raw: bytes) -> int:
    """An explicit ID where ``-``/``+`` make no sense (XGROUP SETID, XCLAIM ids)."""
    if raw in (b"-", b"+"):
        raise StreamError(ERR_INVALID_ID)
    return parse_id(raw)


def next_add_id(spec: bytes, last_id: int, now_ms: int) -> int:
    """The ID XADD gives a new entry: ``*`` (auto), ``ms-*`` or an explicit ``ms[-seq]``.

    IDs are strictly increasing. ``*`` uses the clock but never goes backwards: a clock
    behind the last ID reuses the last ms with the next sequence.
    """
    last_ms, last_seq = last_id >> SEQ_BITS, last_id & SEQ_MAX
    if spec == b"*":
        ms = max(now_ms, last_ms)
        if ms == last_ms:
            if last_seq == SEQ_MAX:
                if last_ms == MS_MAX:
                    raise StreamError(ERR_ADD_ID_TOO_SMALL)
                return make_id(last_ms + 1, 0)
            return make_id(ms, last_seq + 1)
        return make_id(ms, 0)
    ms_text, dash, seq_text = spec.partition(b"-")
    if dash and seq_text == b"*":
        ms = _u64(ms_text)
        if ms < last_ms:
            raise StreamError(ERR_ADD_ID_TOO_SMALL)
        if ms == last_ms:
            if last_seq == SEQ_MAX:
                raise StreamError(ERR_ADD_ID_TOO_SMALL)
            candidate = make_id(ms, last_seq + 1)
        else:
            candidate = make_id(ms, 0)
    else:
        candidate = make_id(_u64(ms_text), _u64(seq_text) if dash else 0)
    if candidate == ID_MIN:
        raise StreamError(ERR_ADD_ID_ZERO)
    if candidate <= last_id:
        raise StreamError(ERR_ADD_ID_TOO_SMALL)
    return candidate
