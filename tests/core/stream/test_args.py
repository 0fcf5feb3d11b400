"""Argument grammar of the stream commands, with Redis's error wording."""

from __future__ import annotations

import pytest

from hld.core.stream.args import (
    parse_autoclaim,
    parse_claim,
    parse_group_create,
    parse_pending,
    parse_range,
    parse_read,
    parse_xadd,
    parse_xtrim,
)
from hld.core.stream.errors import StreamError
from hld.core.stream.ids import make_id
from hld.core.stream.limits import TRIM_APPROX_LIMIT_DEFAULT


def words(text: str) -> list[bytes]:
    return [w.encode() for w in text.split()]


def error_of(fn: object, argv: list[bytes], **kw: object) -> str:
    with pytest.raises(StreamError) as info:
        fn(argv, **kw)  # type: ignore[operator]
    return str(info.value)


def test_xadd_options_come_before_the_id() -> None:
    args = parse_xadd(words("XADD s NOMKSTREAM MAXLEN ~ 10 LIMIT 5 * a 1 b 2"))
    actual = (args.key, args.nomkstream, args.id_spec, args.fields)
    assert actual == (b"s", True, b"*", (b"a", b"1", b"b", b"2"))
    assert args.trim is not None
    assert (args.trim.strategy, args.trim.threshold,
                                       args.trim.approx, args.trim.limit) == ("maxlen", 10, True, 5)
    default = parse_xadd(words("XADD s MINID ~ 7 5-* a 1")).trim
    assert default is not None
    assert (make_id(7, 0), TRIM_APPROX_LIMIT_DEFAULT) == (default.threshold, default.limit)


@pytest.mark.parametrize(("line", "message"), [
    ("XADD s * a", "ERR wrong number of arguments for 'xadd' command"),
    ("XADD s MAXLEN = 1 LIMIT 2 * a b",
     "ERR syntax error, LIMIT cannot be used without the special ~ option"),
    ("XADD s MAXLEN -1 * a b", "ERR The MAXLEN argument must be >= 0."),
    ("XADD s MAXLEN x * a b", "ERR value is not an integer or out of range"),
    ("XADD s bad-id a b", "ERR Invalid stream ID specified as stream command argument"),
])
def test_xadd_errors_are_worded_as_redis(line: str, message: str) -> None:
    assert message == error_of(parse_xadd, words(line))


def test_xtrim_needs_a_strategy() -> None:
    message = error_of(parse_xtrim, words("XTRIM s"))
    assert message == "ERR syntax error, XTRIM must be called with a trimming strategy"
    assert (parse_xtrim(words("XTRIM s MAXLEN 0")).strategy,
                             parse_xtrim(words("XTRIM s MAXLEN 0")).threshold) == ("maxlen", 0)


def test_ranges_parse_exclusive_bounds_and_count() -> None:
    args = parse_range(words("XREVRANGE s + (5 COUNT 2"), reverse=True)
    assert (make_id(5, 1), 2) == (args.start, args.count)


def test_read_splits_keys_and_ids_and_checks_balance() -> None:
    args = parse_read(words("XREADGROUP GROUP g c COUNT 2 BLOCK 0 NOACK STREAMS a b > 0"),
                      group_form=True)
    actual = (args.keys, args.ids, args.block_ms, args.count, args.noack)
    assert actual == ((b"a", b"b"), (b">", b"0"), 0, 2, True)
    assert error_of(parse_read, words("XREAD STREAMS a b 0"), group_form=False).startswith(
        "ERR Unbalanced 'xread' list of streams")
    message = error_of(parse_read, words("XREAD BLOCK -1 STREAMS a 0"), group_form=False)
    assert message == "ERR timeout is negative"
    assert error_of(parse_read, words("XREAD STREAMS a >"), group_form=False).startswith(
        "ERR The > ID can be specified only")


def test_group_create_entriesread_and_mkstream() -> None:
    args = parse_group_create(words("XGROUP CREATE s g $ MKSTREAM ENTRIESREAD 3"),
                              setid=False)
    assert (args.id_spec, args.mkstream, args.entries_read) == (b"$", True, 3)
    message = error_of(parse_group_create, words("XGROUP CREATE s g 0 ENTRIESREAD -2"),
                       setid=False)
    assert message == "ERR value for ENTRIESREAD must be positive or -1"


def test_pending_claim_and_autoclaim_forms() -> None:
    pending = parse_pending(words("XPENDING s g IDLE 10 - + 5 alice"))
    assert (pending.extended, pending.min_idle_ms, pending.count,
                                       pending.consumer) == (True, 10, 5, b"alice")
    claim = parse_claim(words("XCLAIM s g c 100 1-0 2-0 IDLE 5 RETRYCOUNT 3 FORCE JUSTID"))
    assert ((make_id(1, 0), make_id(2, 0)), 5, 3, True, True) == (
        claim.ids, claim.idle_ms, claim.retry_count, claim.force, claim.justid)
    auto = parse_autoclaim(words("XAUTOCLAIM s g c 100 0 COUNT 5 JUSTID"))
    assert (auto.count, auto.justid) == (5, True)
    message = error_of(parse_autoclaim, words("XAUTOCLAIM s g c 1 0 COUNT 0"))
    assert message == "ERR COUNT must be > 0"
