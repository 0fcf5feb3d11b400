"""hld-store request tracing: XADDs whose fields carry a request_id are logged at verbose.

Against a real hld-store process: its JSON log lines on stdout are read back. At the
default level (notice) nothing is traced; ``CONFIG SET loglevel`` turns tracing on and
off live.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from hld.store.commands.streams import traced_request_id
from tests.store.store_process import StoreProcess, running

pytestmark = pytest.mark.blackbox

LOG_WAIT_S = 5.0


def traces(server: StoreProcess) -> list[dict[str, Any]]:
    lines = []
    for line in server.log().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == "xadd":
            lines.append(record)
    return lines


def wait_traces(server: StoreProcess, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + LOG_WAIT_S
    while len(traces(server)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return traces(server)


@pytest.mark.parametrize(("argv", "expected"), [
    ([b"XADD", b"s", b"*", b"request_id", b"r1"], b"r1"),
    ([b"XADD", b"s", b"MAXLEN", b"~", b"10", b"*", b"a", b"1", b"request_id", b"r2"], b"r2"),
    ([b"XADD", b"s", b"*", b"request_id", b"r3", b"text", b"request_id"], b"r3"),
    ([b"XADD", b"s", b"*", b"text", b"request_id", b"b", b"2"], None),  # a value, not a field
    ([b"XADD", b"request_id", b"*", b"a", b"1"], None),  # the key is no field
    ([b"XADD", b"s", b"*", b"a", b"1"], None),
])
def test_the_request_id_is_read_from_the_field_pairs_only(
        argv: list[bytes], expected: bytes | None) -> None:
    assert traced_request_id(argv) == expected


def test_verbose_store_logs_each_xadd_that_carries_a_request_id(tmp_path: Path) -> None:
    with running(tmp_path, "--loglevel", "verbose") as server, \
            server.client(decode_responses=True) as client:
        first = client.xadd("chirp:fanout", {"post_id": "1", "request_id": "req-a"})
        client.xadd("chirp:fanout", {"post_id": "2"})  # no request id: not traced
        third = client.xadd("other", {"text": "request_id", "request_id": "req-b"},
                            maxlen=100, approximate=True)
        lines = wait_traces(server, 2)
    assert [(r["request_id"], r["key"], r["entry_id"], r["level"], r["component"],
             r["replica"]) for r in lines] == [
        ("req-a", "chirp:fanout", first, "verbose", "store", False),
        ("req-b", "other", third, "verbose", "store", False)]


def test_a_failed_xadd_is_not_traced(tmp_path: Path) -> None:
    with running(tmp_path, "--loglevel", "verbose") as server, \
            server.client(decode_responses=True) as client:
        client.set("plain", "x")
        with pytest.raises(Exception, match="WRONGTYPE"):
            client.xadd("plain", {"request_id": "req-bad"})
        client.xadd("s", {"request_id": "req-ok"})
        lines = wait_traces(server, 1)
    assert [r["request_id"] for r in lines] == ["req-ok"]


def test_notice_level_traces_nothing_and_config_set_switches_it_live(tmp_path: Path) -> None:
    with running(tmp_path) as server, server.client(decode_responses=True) as client:
        client.xadd("s", {"request_id": "before"})
        client.config_set("loglevel", "verbose")
        client.xadd("s", {"request_id": "during"})
        client.config_set("loglevel", "notice")
        client.xadd("s", {"request_id": "after"})
        client.config_set("loglevel", "debug")  # debug shows verbose lines too
        client.xadd("s", {"request_id": "debug"})
        lines = wait_traces(server, 2)
        time.sleep(0.2)  # give a wrong extra line the chance to show
        lines = traces(server)
    assert [r["request_id"] for r in lines] == ["during", "debug"]
