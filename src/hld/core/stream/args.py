"""Argument parsing of the stream commands, pure and worded as Redis.

Each ``parse_*`` takes the whole argv (argv[0] is the command name) and returns a small
frozen record, or raises ``StreamError`` with Redis's message. Keeping the grammar here,
apart from the server, lets the tests pin every error without a socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hld.core.stream import errors as e
from hld.core.stream import limits
from hld.core.stream.errors import StreamError
from hld.core.stream.ids import parse_id, parse_range_bound, parse_strict_id

_INT64_MAX = (1 << 63) - 1


def parse_int(raw: bytes, message: str = e.ERR_NOT_INTEGER) -> int:
    """A signed 64-bit decimal as Redis's string2ll accepts it (no spaces, no '+')."""
    body = raw[1:] if raw.startswith(b"-") else raw
    if not body or not body.isdigit() or len(raw) > 20 or (len(body) > 1 and body[0] == 48):
        raise StreamError(message)
    value = int(raw)
    if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
        raise StreamError(message)
    return value


@dataclass(frozen=True, slots=True)
class Trim:
    strategy: Literal["maxlen", "minid"]
    threshold: int  # a length for MAXLEN, a packed ID for MINID
    approx: bool
    limit: int  # 0: no limit


@dataclass(frozen=True, slots=True)
class XAddArgs:
    key: bytes
    nomkstream: bool
    trim: Trim | None
    id_spec: bytes
    fields: tuple[bytes, ...]


def _parse_trim_options(argv: list[bytes], start: int, *, xadd: bool,
                        ) -> tuple[Trim | None, int, bool]:
    """Trim options from ``start``; returns (trim, index of the ID for XADD, nomkstream)."""
    strategy: Literal["maxlen", "minid"] | None = None
    threshold = 0
    approx = False
    limit: int | None = None
    nomkstream = False
    i = start
    argc = len(argv)
    while i < argc:
        more = argc - 1 - i
        opt = argv[i].lower()
        if xadd and opt == b"*":
            break
        if opt in (b"maxlen", b"minid") and more:
            if strategy is not None:
                raise StreamError("ERR syntax error, MAXLEN and MINID options at the same "
                                  "time are not compatible")
            approx = False
            nxt = argv[i + 1]
            if more >= 2 and nxt in (b"~", b"="):
                approx = nxt == b"~"
                i += 1
            if opt == b"maxlen":
                threshold = parse_int(argv[i + 1])
                if threshold < 0:
                    raise StreamError(e.ERR_MAXLEN_NEGATIVE)
                strategy = "maxlen"
            else:
                threshold = parse_strict_id(argv[i + 1])
                strategy = "minid"
            i += 2
            continue
        if opt == b"limit" and more:
            limit = parse_int(argv[i + 1])
            if limit < 0:
                raise StreamError(e.ERR_LIMIT_NEGATIVE)
            i += 2
            continue
        if xadd and opt == b"nomkstream":
            nomkstream = True
            i += 1
            continue
        if xadd:
            _check_add_id(argv[i])
            break
        raise StreamError(e.ERR_SYNTAX)
    if limit and strategy is None:
        raise StreamError("ERR syntax error, LIMIT cannot be used without specifying a "
                          "trimming strategy")
    if not xadd and strategy is None:
        raise StreamError("ERR syntax error, XTRIM must be called with a trimming strategy")
    if limit is not None:
        if not approx:
            raise StreamError(e.ERR_LIMIT_WITHOUT_APPROX)
    else:
        limit = limits.TRIM_APPROX_LIMIT_DEFAULT if approx else 0
    trim = None if strategy is None else Trim(strategy, threshold, approx, limit)
    return trim, i, nomkstream


def _check_add_id(spec: bytes) -> None:
    """Reject a malformed XADD ID before anything is touched (``ms-*`` allowed)."""
    if spec.endswith(b"-*"):
        parse_strict_id(spec[:-2])
    else:
        parse_strict_id(spec)


# XADD key [NOMKSTREAM] [<MAXLEN | MINID> [= | ~] threshold [LIMIT count]] <* | id>
#      field value [field value ...]
def parse_xadd(argv: list[bytes]) -> XAddArgs:
    if len(argv) < 5:
        raise StreamError(e.ERR_FIELDS)
    trim, id_index, nomkstream = _parse_trim_options(argv, 2, xadd=True)
    field_count = len(argv) - id_index - 1
    if field_count < 2 or field_count % 2:
        raise StreamError(e.ERR_FIELDS)
    return XAddArgs(argv[1], nomkstream, trim, argv[id_index], tuple(argv[id_index + 1:]))


# XTRIM key <MAXLEN | MINID> [= | ~] threshold [LIMIT count]
def parse_xtrim(argv: list[bytes]) -> Trim:
    trim, _, _ = _parse_trim_options(argv, 2, xadd=False)
    if trim is None:  # unreachable: the parser raises for XTRIM without a strategy
        raise StreamError(e.ERR_SYNTAX)
    return trim


@dataclass(frozen=True, slots=True)
class RangeArgs:
    key: bytes
    start: int | None  # None: an exclusive bound with nothing beyond it, empty range
    end: int | None
    count: int  # -1: no COUNT given


# XRANGE key start end [COUNT count]; XREVRANGE key end start [COUNT count]
def parse_range(argv: list[bytes], *, reverse: bool) -> RangeArgs:
    if len(argv) not in (4, 6):
        raise StreamError(e.ERR_SYNTAX)
    low, high = (argv[3], argv[2]) if reverse else (argv[2], argv[3])
    start = parse_range_bound(low, is_start=True)
    end = parse_range_bound(high, is_start=False)
    count = -1
    if len(argv) == 6:
        if argv[4].lower() != b"count":
            raise StreamError(e.ERR_SYNTAX)
        count = max(0, parse_int(argv[5]))
    return RangeArgs(argv[1], start, end, count)


@dataclass(frozen=True, slots=True)
class ReadArgs:
    group: bytes | None
    consumer: bytes | None
    count: int  # 0: no limit
    block_ms: int | None  # None: do not block; 0: block forever
    noack: bool
    keys: tuple[bytes, ...]
    ids: tuple[bytes, ...]  # raw: '$', '>' and IDs are resolved against each stream


# XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
# XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK]
#            STREAMS key [key ...] id [id ...]
def parse_read(argv: list[bytes], *, group_form: bool) -> ReadArgs:
    group = consumer = None
    count = 0
    block_ms: int | None = None
    noack = False
    i = 1
    argc = len(argv)
    streams_at = -1
    while i < argc:
        opt = argv[i].lower()
        more = argc - 1 - i
        if opt == b"block" and more:
            block_ms = parse_int(argv[i + 1], e.ERR_TIMEOUT_NOT_INTEGER)
            if block_ms < 0:
                raise StreamError(e.ERR_TIMEOUT_NEGATIVE)
            i += 2
        elif opt == b"count" and more:
            count = max(0, parse_int(argv[i + 1]))
            i += 2
        elif opt == b"streams" and more:
            streams_at = i + 1
            break
        elif opt == b"group" and more >= 2:
            if not group_form:
                raise StreamError("ERR The GROUP option is only supported by XREADGROUP. "
                                  "You called XREAD instead.")
            group, consumer = argv[i + 1], argv[i + 2]
            i += 3
        elif opt == b"noack":
            if not group_form:
                raise StreamError("ERR The NOACK option is only supported by XREADGROUP. "
                                  "You called XREAD instead.")
            noack = True
            i += 1
        else:
            raise StreamError(e.ERR_SYNTAX)
    if streams_at < 0:
        raise StreamError(e.ERR_SYNTAX)
    rest = argv[streams_at:]
    if len(rest) % 2:
        raise StreamError(e.ERR_UNBALANCED_XREADGROUP if group_form
                          else e.ERR_UNBALANCED_XREAD)
    if group_form and group is None:
        raise StreamError("ERR Missing GROUP option for XREADGROUP")
    half = len(rest) // 2
    keys, ids = tuple(rest[:half]), tuple(rest[half:])
    for raw in ids:
        if raw == b"$":
            if group_form:
                raise StreamError(e.ERR_XREAD_GT)
        elif raw == b">":
            if not group_form:
                raise StreamError(e.ERR_XREAD_GT_IN_XREAD)
        else:
            parse_strict_id(raw)
    return ReadArgs(group, consumer, count, block_ms, noack, keys, ids)


@dataclass(frozen=True, slots=True)
class GroupCreateArgs:
    key: bytes
    group: bytes
    id_spec: bytes  # '$' or an ID
    mkstream: bool
    entries_read: int | None


# XGROUP CREATE key group <id | $> [MKSTREAM] [ENTRIESREAD entries-read]
# XGROUP SETID key group <id | $> [ENTRIESREAD entries-read]
def parse_group_create(argv: list[bytes], *, setid: bool) -> GroupCreateArgs:
    if len(argv) < 5:
        raise StreamError(e.ERR_SYNTAX)
    mkstream = False
    entries_read: int | None = None
    i = 5
    while i < len(argv):
        opt = argv[i].lower()
        if opt == b"mkstream" and not setid:
            mkstream = True
            i += 1
        elif opt == b"entriesread" and i + 1 < len(argv):
            value = parse_int(argv[i + 1])
            if value < -1:
                raise StreamError(e.ERR_ENTRIES_READ)
            entries_read = None if value == -1 else value
            i += 2
        else:
            raise StreamError(e.ERR_SYNTAX)
    if argv[4] != b"$":
        parse_strict_id(argv[4])
    return GroupCreateArgs(argv[2], argv[3], argv[4], mkstream, entries_read)


@dataclass(frozen=True, slots=True)
class PendingArgs:
    key: bytes
    group: bytes
    extended: bool
    min_idle_ms: int
    start: int | None
    end: int | None
    count: int
    consumer: bytes | None


# XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
def parse_pending(argv: list[bytes]) -> PendingArgs:
    argc = len(argv)
    if argc == 3:
        return PendingArgs(argv[1], argv[2], False, 0, None, None, 0, None)
    i = 3
    min_idle_ms = 0
    if argv[3].lower() == b"idle":
        if argc < 8:
            raise StreamError(e.ERR_SYNTAX)
        min_idle_ms = max(0, parse_int(argv[4]))
        i = 5
    if argc - i not in (3, 4):
        raise StreamError(e.ERR_SYNTAX)
    start = parse_range_bound(argv[i], is_start=True)
    end = parse_range_bound(argv[i + 1], is_start=False)
    count = max(0, parse_int(argv[i + 2]))
    consumer = argv[i + 3] if argc - i == 4 else None
    return PendingArgs(argv[1], argv[2], True, min_idle_ms, start, end, count, consumer)


@dataclass(frozen=True, slots=True)
class ClaimArgs:
    key: bytes
    group: bytes
    consumer: bytes
    min_idle_ms: int
    ids: tuple[int, ...]
    idle_ms: int | None
    time_ms: int | None
    retry_count: int | None
    force: bool
    justid: bool
    last_id: int | None


# XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms]
#        [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]
def parse_claim(argv: list[bytes]) -> ClaimArgs:
    min_idle_ms = max(0, parse_int(argv[4], e.ERR_MIN_IDLE))
    ids: list[int] = []
    i = 5
    while i < len(argv):
        try:
            ids.append(parse_strict_id(argv[i]))
        except StreamError:
            break
        i += 1
    idle_ms = time_ms = retry_count = last_id = None
    force = justid = False
    while i < len(argv):
        opt = argv[i].lower()
        more = len(argv) - 1 - i
        if opt == b"force":
            force = True
            i += 1
        elif opt == b"justid":
            justid = True
            i += 1
        elif opt == b"idle" and more:
            idle_ms = parse_int(argv[i + 1])
            i += 2
        elif opt == b"time" and more:
            time_ms = parse_int(argv[i + 1])
            i += 2
        elif opt == b"retrycount" and more:
            retry_count = parse_int(argv[i + 1])
            i += 2
        elif opt == b"lastid" and more:
            last_id = parse_strict_id(argv[i + 1])
            i += 2
        else:
            raise StreamError(f"ERR Unrecognized XCLAIM option '"
                              f"{argv[i].decode('utf-8', 'replace')}'")
    return ClaimArgs(argv[1], argv[2], argv[3], min_idle_ms, tuple(ids), idle_ms, time_ms,
                     retry_count, force, justid, last_id)


@dataclass(frozen=True, slots=True)
class AutoClaimArgs:
    key: bytes
    group: bytes
    consumer: bytes
    min_idle_ms: int
    start: int | None
    count: int
    justid: bool


# XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
def parse_autoclaim(argv: list[bytes]) -> AutoClaimArgs:
    min_idle_ms = max(0, parse_int(argv[4], e.ERR_MIN_IDLE))
    start = parse_range_bound(argv[5], is_start=True)
    count = limits.AUTOCLAIM_COUNT_DEFAULT
    justid = False
    i = 6
    while i < len(argv):
        opt = argv[i].lower()
        if opt == b"count" and i + 1 < len(argv):
            count = parse_int(argv[i + 1])
            if count < 1 or count > limits.AUTOCLAIM_COUNT_MAX:
                raise StreamError(e.ERR_COUNT_AUTOCLAIM)
            i += 2
        elif opt == b"justid":
            justid = True
            i += 1
        else:
            raise StreamError(e.ERR_SYNTAX)
    return AutoClaimArgs(argv[1], argv[2], argv[3], min_idle_ms, start, count, justid)


def parse_ids(raw_ids: list[bytes]) -> list[int]:
    """XACK/XDEL ids: all validated before any is applied, as Redis does."""
    return [parse_strict_id(raw) for raw in raw_ids]


def resolve_group_id(raw: bytes, last_id: int) -> int:
    """``$`` is the stream's last ID; anything else an explicit ID."""
    return last_id if raw == b"$" else parse_id(raw)

