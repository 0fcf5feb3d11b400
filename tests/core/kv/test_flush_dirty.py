"""FLUSHALL/FLUSHDB and the change counter, in-process: one change per key removed and
none for an empty keyspace (as redis-server 7.0 counts), while the flush is always handed
to the write listeners (AOF, replicas), inside MULTI/EXEC too."""

from __future__ import annotations

import pytest

from tests.core.kv.test_engine import Harness


@pytest.mark.parametrize("name", ["FLUSHALL", "FLUSHDB"])
def test_a_flush_counts_one_change_per_key_and_is_always_propagated(name: str) -> None:
    h = Harness()
    h("MSET", "a", "1", "b", "2")
    before = h.engine.db.dirty
    h.propagated.clear()
    assert h(name).value == "OK"
    assert (h.engine.db.dirty - before, h.propagated) == (2, [[b"FLUSHALL"]])
    h.propagated.clear()
    assert h(name, "SYNC").value == "OK"  # nothing left to remove
    assert (h.engine.db.dirty - before, h.propagated) == (2, [[b"FLUSHALL"]])


def test_a_flush_of_an_empty_keyspace_inside_multi_is_propagated_in_the_transaction() -> None:
    h = Harness()
    assert [h("MULTI").value, h("FLUSHALL").value] == ["OK", "QUEUED"]
    assert [reply.value for reply in h("EXEC")] == ["OK"]
    assert h.propagated == [[b"MULTI"], [b"FLUSHALL"], [b"EXEC"]]
    assert h.engine.db.dirty == 0
