"""Entry IDs: packing keeps the order, parsing follows Redis's grammar and errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hld.core.stream.errors import StreamError
from hld.core.stream.ids import (
    ID_MAX,
    ID_MIN,
    MS_MAX,
    SEQ_MAX,
    format_id,
    make_id,
    next_add_id,
    parse_id,
    parse_range_bound,
)

u64 = st.integers(min_value=0, max_value=MS_MAX)


@given(u64, u64, u64, u64)
def test_packed_ids_compare_as_ms_then_seq(a_ms: int, a_seq: int, b_ms: int, b_seq: int) -> None:
    assert ((a_ms, a_seq) < (b_ms, b_seq)) == (make_id(a_ms, a_seq) < make_id(b_ms, b_seq))


@given(u64, u64)
def test_format_then_parse_is_identity(ms: int, seq: int) -> None:
    assert make_id(ms, seq) == parse_id(format_id(make_id(ms, seq)))


def test_partial_ids_take_the_missing_sequence() -> None:
    assert make_id(5, 0) == parse_id(b"5")
    assert make_id(5, SEQ_MAX) == parse_id(b"5", missing_seq=SEQ_MAX)
    assert (parse_id(b"-"), parse_id(b"+")) == (ID_MIN, ID_MAX)


@pytest.mark.parametrize("raw", [b"", b"x", b"1-", b"-1", b"1-2-3", b" 1", b"+1",
                                 b"18446744073709551616", b"1-x"])
def test_malformed_ids_are_rejected_with_redis_wording(raw: bytes) -> None:
    with pytest.raises(StreamError) as info:
        parse_id(raw)
    assert str(info.value) == "ERR Invalid stream ID specified as stream command argument"


def test_exclusive_bounds_step_past_the_named_id() -> None:
    assert make_id(5, 2) == parse_range_bound(b"(5-1", is_start=True)
    assert make_id(5, 0) == parse_range_bound(b"(5-1", is_start=False)
    # As Redis: a partial end bound is completed first (5-max), then stepped back.
    assert make_id(5, SEQ_MAX - 1) == parse_range_bound(b"(5", is_start=False)
    assert parse_range_bound(b"(0-0", is_start=False) is None
    with pytest.raises(StreamError):
        parse_range_bound(b"(+", is_start=True)


def test_auto_ids_use_the_clock_and_never_go_backwards() -> None:
    assert make_id(100, 0) == next_add_id(b"*", ID_MIN, 100)
    assert make_id(100, 1) == next_add_id(b"*", make_id(100, 0), 100)
    # A clock behind the last ID keeps the last ms and bumps the sequence.
    assert make_id(100, 1) == next_add_id(b"*", make_id(100, 0), 50)


def test_ms_star_ids_continue_the_sequence_of_the_same_ms() -> None:
    assert make_id(5, 0) == next_add_id(b"5-*", make_id(4, 9), 0)
    assert make_id(5, 10) == next_add_id(b"5-*", make_id(5, 9), 0)
    assert make_id(0, 1) == next_add_id(b"0-*", ID_MIN, 0)


@pytest.mark.parametrize(("spec", "last", "message"), [
    (b"5-0", make_id(5, 0),
     "ERR The ID specified in XADD is equal or smaller than the target stream top item"),
    (b"4", make_id(5, 0),
     "ERR The ID specified in XADD is equal or smaller than the target stream top item"),
    (b"4-*", make_id(5, 0),
     "ERR The ID specified in XADD is equal or smaller than the target stream top item"),
    (b"0-0", ID_MIN, "ERR The ID specified in XADD must be greater than 0-0"),
])
def test_explicit_ids_must_increase(spec: bytes, last: int, message: str) -> None:
    with pytest.raises(StreamError) as info:
        next_add_id(spec, last, 0)
    assert message == str(info.value)


def test_sequence_overflow_moves_to_the_next_millisecond() -> None:
    assert make_id(8, 0) == next_add_id(b"*", make_id(7, SEQ_MAX), 3)
    with pytest.raises(StreamError):
        next_add_id(b"7-*", make_id(7, SEQ_MAX), 3)
