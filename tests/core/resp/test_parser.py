"""RESP parser and serializer: every input whole, byte by byte and with trailing data
(h11's style), hypothesis round-trips for RESP2 and RESP3, inline splitting, limits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.resp import (
    NEED_DATA,
    BigNumber,
    Double,
    ErrorReply,
    Map,
    ProtocolError,
    Push,
    RespParser,
    RespSet,
    SimpleString,
    Verbatim,
    check_request_headers,
    encode,
    split_inline,
)
from hld.core.resp.serializer import NULL_ARRAY_VALUE


def feed_variants(data: bytes) -> Iterator[tuple[str, list[bytes]]]:
    yield "whole", [data]
    yield "byte-by-byte", [data[i:i + 1] for i in range(len(data))]
    yield "halves", [data[: len(data) // 2], data[len(data) // 2:]]


def parse_all(chunks: list[bytes], **kwargs: Any) -> list[Any]:
    parser = RespParser(**kwargs)
    out = []
    for chunk in chunks:
        parser.feed(chunk)
        while (event := parser.next_event()) is not NEED_DATA:
            out.append(event)
    return out


CASES: list[tuple[bytes, Any]] = [
    (b"+OK\r\n", SimpleString("OK")),
    (b"-ERR bad\r\n", ErrorReply("ERR bad")),
    (b":-42\r\n", -42),
    (b"$5\r\nhe\r\no\r\n", b"he\r\no"),
    (b"$0\r\n\r\n", b""),
    (b"$-1\r\n", None),
    (b"*-1\r\n", NULL_ARRAY_VALUE),
    (b"*2\r\n$1\r\na\r\n:1\r\n", [b"a", 1]),
    (b"*0\r\n", []),
    (b"_\r\n", None),
    (b",3.5\r\n", Double(3.5)),
    (b",inf\r\n", Double(float("inf"))),
    (b"#t\r\n", True),
    (b"(12345678901234567890\r\n", BigNumber(12345678901234567890)),
    (b"=7\r\ntxt:abc\r\n", Verbatim("txt", b"abc")),
    (b"%1\r\n+k\r\n:1\r\n", Map(((SimpleString("k"), 1),))),
    (b"~2\r\n:1\r\n:2\r\n", RespSet((1, 2))),
    (b">2\r\n$1\r\na\r\n$1\r\nb\r\n", Push((b"a", b"b"))),
    (b"!3\r\nERR\r\n", ErrorReply("ERR")),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
@pytest.mark.parametrize("variant", ["whole", "byte-by-byte", "halves"])
def test_every_reply_type_parses_in_any_fragmentation(data: bytes, expected: Any,
                                                      variant: str) -> None:
    chunks = dict(feed_variants(data))[variant]
    assert parse_all(chunks) == [expected]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_trailing_data_stays_for_the_next_value(data: bytes, expected: Any) -> None:
    parser = RespParser()
    parser.feed(data + b"+NEXT\r\n:1")
    assert parser.next_event() == expected
    assert parser.next_event() == SimpleString("NEXT")
    assert parser.next_event() is NEED_DATA
    parser.feed(b"\r\n")
    assert parser.next_event() == 1


def test_requests_mix_inline_and_multibulk() -> None:
    data = b"PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n\r\nSET k 'v w'\n"
    for _, chunks in feed_variants(data):
        assert parse_all(chunks, requests=True) == [[b"PING"], [b"ECHO", b"hi"],
                                                    [b"SET", b"k", b"v w"]]


@pytest.mark.parametrize(("line", "expected"), [
    (b"set a b", [b"set", b"a", b"b"]),
    (b'  "a b"  c ', [b"a b", b"c"]),
    (b'"\\x41\\n\\"q"', [b"A\n\"q"]),
    (b"'it\\'s'", [b"it's"]),
    (b"", []),
])
def test_split_inline_follows_sdssplitargs(line: bytes, expected: list[bytes]) -> None:
    assert split_inline(line) == expected


@pytest.mark.parametrize("line", [b'"abc', b"'abc", b'"a"b'])
def test_split_inline_refuses_unbalanced_quotes(line: bytes) -> None:
    with pytest.raises(ProtocolError, match="unbalanced quotes"):
        split_inline(line)


@pytest.mark.parametrize(("data", "message"), [
    (b"*3000000\r\n", "invalid multibulk length"),
    (b"*1\r\n$999999999999\r\n", "invalid bulk length"),
    (b"*1\r\n:1\r\n", "expected '$', got ':'"),
    (b"*x\r\n", "invalid multibulk length"),
])
def test_request_limits_and_shapes_raise_protocol_errors(data: bytes, message: str) -> None:
    parser = RespParser(requests=True)
    parser.feed(data)
    with pytest.raises(ProtocolError, match=re.escape(message)):
        parser.next_event()


def test_inline_request_too_long_is_refused() -> None:
    parser = RespParser(requests=True, inline_bytes_max=16)
    parser.feed(b"x" * 17)
    with pytest.raises(ProtocolError, match="too big inline request"):
        parser.next_event()


def test_header_check_refuses_out_of_range_counts_only() -> None:
    assert check_request_headers(b"*2000000\r\n", 1_000_000, 100) == "invalid multibulk length"
    assert check_request_headers(b"*1\r\n$101\r\n", 10, 100) == "invalid bulk length"
    assert check_request_headers(b"*2\r\n$3\r\nGET\r\n$1", 10, 100) is None
    assert check_request_headers(b"*\r\nnot a header", 10, 100) is None
    assert check_request_headers(b"*2\r\n*2000000000\r\n", 1000, 100) == \
        "invalid multibulk length"


# -- round trips -------------------------------------------------------------------

scalars = st.one_of(
    st.binary(max_size=40), st.integers(-(2**63), 2**63 - 1), st.none(),
    st.builds(SimpleString, st.text(alphabet=st.characters(
        blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20)),
    st.builds(Double, st.floats(allow_nan=False)),
)
resp2_values = st.recursive(scalars.filter(lambda v: not isinstance(v, Double)),
                            lambda inner: st.lists(inner, max_size=5), max_leaves=20)
resp3_values = st.recursive(
    scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.builds(lambda xs: Push(tuple(xs)), st.lists(inner, max_size=4)),
        st.builds(lambda xs: RespSet(tuple(xs)), st.lists(inner, max_size=4)),
        st.builds(lambda ps: Map(tuple(ps)), st.lists(st.tuples(st.binary(max_size=5), inner),
                                                       max_size=3))),
    max_leaves=20)


@settings(max_examples=60, deadline=None)
@given(resp2_values)
def test_resp2_round_trip(value: Any) -> None:
    data = encode(value, 2)
    assert parse_all([data]) == [value]
    assert parse_all([data[: len(data) // 3], data[len(data) // 3:]]) == [value]


@settings(max_examples=60, deadline=None)
@given(resp3_values)
def test_resp3_round_trip(value: Any) -> None:
    data = encode(value, 3)
    assert parse_all([data]) == [value]
    assert parse_all([data[:7], data[7:]]) == [value]


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_either_parse_or_raise_protocol_error(data: bytes) -> None:
    parser = RespParser(requests=True, bulk_bytes_max=1000, multibulk_len_max=100)
    parser.feed(data)
    try:
        while parser.next_event() is not NEED_DATA:
            pass
    except ProtocolError:
        pass
