"""hld-store writes its administrative events as JSON lines (component "store")."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

from hld.store import logs
from tests.store.store_process import StoreProcess


def _records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_a_record_becomes_one_json_line_with_the_shared_fields() -> None:
    stream = io.StringIO()
    handler = logs.configure("notice", stream)
    try:
        logs.event("store ready", port=7379)
        logging.getLogger("hld.store.replication").warning("link to %s lost", "primary")
        logging.getLogger("hld.store.server").debug("not shown at notice")
    finally:
        logs.log.removeHandler(handler)
        logs.log.propagate = True
    ready, lost = _records(stream.getvalue())
    expected_ready = {"level": "info", "event": "store ready", "component": "store",
                      "request_id": "", "logger": "hld.store", "port": 7379}
    assert {k: v for k, v in ready.items() if k != "ts"} == expected_ready
    expected_lost = ("warning", "link to primary lost", "hld.store.replication")
    assert (lost["level"], lost["event"], lost["logger"]) == expected_lost
    assert isinstance(ready["ts"], float)


def test_a_store_process_logs_start_and_shutdown_as_json(tmp_path: Path) -> None:
    server = StoreProcess(tmp_path, "--appendonly", "yes")
    try:
        server.start()
        with server.client() as r:
            r.set("a", "1")
    finally:
        server.stop()
    records = _records(server.log())
    events = [r["event"] for r in records]
    assert "store ready" in events
    assert "store stopped" in events
    assert events.index("store ready") < events.index("shutdown requested") \
        < events.index("store stopped")
    ready = records[events.index("store ready")]
    assert (ready["port"], ready["role"], ready["appendonly"], ready["component"]) == (
        server.port, "primary", True, "store")
    assert all(r["component"] == "store" for r in records)
