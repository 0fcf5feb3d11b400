"""The stream log: append, ranges, deletion and trimming (exact and approximate)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hld.core.stream.ids import ID_MAX, ID_MIN, make_id
from hld.core.stream.limits import HEAD_COMPACT_MIN, TRIM_BLOCK_ENTRIES
from hld.core.stream.stream import Stream


def filled(n: int) -> Stream:
    stream = Stream()
    for i in range(1, n + 1):
        stream.add((b"n", b"%d" % i), b"%d-0" % i, now_ms=0)
    return stream


def ids_of(stream: Stream) -> list[int]:
    return [entry_id for entry_id, _ in stream.entries()]


def test_entries_come_back_in_id_order_with_their_fields() -> None:
    stream = Stream()
    first = stream.add((b"a", b"1"), now_ms=10)
    second = stream.add((b"b", b"2", b"c", b"3"), now_ms=10)
    assert [(first, (b"a", b"1")), (second, (b"b", b"2", b"c", b"3"))] == stream.entries()
    assert (2, second, 2) == (len(stream), stream.last_id, stream.entries_added)


def test_ranges_are_inclusive_and_count_limits_from_the_right_end() -> None:
    stream = filled(10)
    assert [make_id(i, 0) for i in (3, 4, 5)] == [
        i for i, _ in stream.range(make_id(3, 0), make_id(5, 0))]
    assert [make_id(1, 0), make_id(2, 0)] == [i for i, _ in stream.range(ID_MIN, ID_MAX, 2)]
    assert [make_id(10, 0), make_id(9, 0)] == [
        i for i, _ in stream.range(ID_MIN, ID_MAX, 2, reverse=True)]
    assert stream.range(make_id(5, 0), make_id(4, 0)) == []
    assert [make_id(10, 0)] == [i for i, _ in stream.after(make_id(9, 0))]


def test_delete_removes_entries_and_remembers_the_largest_deleted_id() -> None:
    stream = filled(5)
    assert stream.delete([make_id(2, 0), make_id(4, 0), make_id(9, 0)]) == 2
    assert [make_id(i, 0) for i in (1, 3, 5)] == ids_of(stream)
    assert make_id(4, 0) == stream.max_deleted_id
    assert stream.get(make_id(2, 0)) is None
    assert stream.entries_added == 5


def test_exact_maxlen_trim_keeps_the_newest_entries() -> None:
    stream = filled(10)
    assert stream.trim_maxlen(3) == 7
    assert [make_id(i, 0) for i in (8, 9, 10)] == ids_of(stream)
    assert make_id(8, 0) == stream.first_id
    assert stream.trim_maxlen(3) == 0


def test_approximate_trim_removes_whole_blocks_within_the_limit() -> None:
    """Matches Redis on 350 entries: ~120 keeps 150; LIMIT below a block trims nothing."""
    stream = filled(350)
    assert stream.trim_maxlen(120, approx=True) == 200
    assert len(stream) == 150
    assert stream.trim_maxlen(10, approx=True, limit=50) == 0
    assert stream.trim_maxlen(10, approx=True, limit=TRIM_BLOCK_ENTRIES) == 100
    assert len(stream) == 50


def test_minid_trim_drops_entries_below_the_id() -> None:
    stream = filled(10)
    assert stream.trim_minid(make_id(5, 0)) == 4
    assert make_id(5, 0) == stream.first_id


def test_trimming_a_long_stream_compacts_its_dead_prefix() -> None:
    stream = filled(3 * HEAD_COMPACT_MIN)
    for _ in range(3 * HEAD_COMPACT_MIN - 1):
        stream.trim_maxlen(len(stream) - 1)
    assert [make_id(3 * HEAD_COMPACT_MIN, 0)] == ids_of(stream)
    assert len(stream._ids) < HEAD_COMPACT_MIN * 2  # the prefix was released


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["add", "del", "trim", "minid"]),
                          st.integers(0, 40)), max_size=60))
def test_stream_matches_a_plain_list_model(ops: list[tuple[str, int]]) -> None:
    stream = Stream()
    model: list[int] = []
    clock = 0
    for op, arg in ops:
        if op == "add":
            clock += arg % 3
            model.append(stream.add((b"f", b"v"), now_ms=clock))
        elif op == "del" and model:
            victim = model[arg % len(model)]
            assert stream.delete([victim]) == 1
            model.remove(victim)
        elif op == "trim":
            expected = max(0, len(model) - arg)
            assert expected == stream.trim_maxlen(arg)
            model = model[expected:]
        elif op == "minid" and model:
            bound = model[arg % len(model)]
            removed = [m for m in model if m < bound]
            assert len(removed) == stream.trim_minid(bound)
            model = [m for m in model if m >= bound]
        assert model == ids_of(stream)
        assert len(model) == len(stream)
    assert sorted(set(model)) == model
