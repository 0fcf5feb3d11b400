"""Show the system's logs merged in time order, optionally one request's path through it.

  hld logs [--follow] [--request-id ID] [--component NAME] [--data-dir .hld]

Every component writes JSON lines to DATA_DIR/logs/NAME.log; lines carry ``ts`` (wall
seconds) and, when they concern a request, the ``request_id`` the gateway gave it, which
the app passes to the store and the queue (a field of the fan-out stream entry: the store
logs it at its verbose level) and so to the worker. Lines that are not JSON (a
traceback, a library's warning) are shown as they are, in file order.

A process that knows only its kind ("store": the primary, the replica and the cache node
are the same program) is named after its file (``store-primary``) in the shown lines and
for ``--component``; ``--raw`` prints lines unchanged.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from hld.runtime.commands import CLIError

FOLLOW_POLL_S = 0.5
LINE_BYTES_MAX = 64 * 1024  # longer lines are cut when shown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=".hld", help="the system's data directory")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    parser.add_argument("--request-id", help="only lines about this request")
    parser.add_argument("--component", action="append", default=[],
                        help="only these components (repeatable)")
    parser.add_argument("--raw", action="store_true", help="print the JSON lines unchanged")


def _parse(line: str, component: str) -> tuple[float, dict[str, Any] | None, str]:
    try:
        record = json.loads(line)
    except ValueError:
        return 0.0, None, line
    if not isinstance(record, dict):
        return 0.0, None, line
    ts = record.get("ts") or record.get("timestamp") or 0.0
    try:
        ts_s = float(ts)
    except (TypeError, ValueError):
        ts_s = 0.0
    record.setdefault("component", component)
    if component.startswith(f"{record['component']}-"):
        record["component"] = component  # "store" in store-primary.log: store-primary
    return ts_s, record, line


def _keep(record: dict[str, Any] | None, args: argparse.Namespace) -> bool:
    if args.request_id and (record is None or record.get("request_id") != args.request_id):
        return False
    return not args.component or (record is not None
                                  and record.get("component") in args.component)


def _show(record: dict[str, Any] | None, line: str, raw: bool, out: TextIO) -> None:
    if raw or record is None:
        out.write(line[:LINE_BYTES_MAX].rstrip("\n") + "\n")
        return
    ts = record.pop("ts", None)
    stamp = time.strftime("%H:%M:%S", time.localtime(float(ts))) if ts else "--:--:--"
    component = record.pop("component", "?")
    event = record.pop("event", "")
    level = record.pop("level", "")
    rest = " ".join(f"{k}={v}" for k, v in record.items())
    out.write(f"{stamp} {component:14} {level:7} {event} {rest}"[:LINE_BYTES_MAX] + "\n")


def run(args: argparse.Namespace) -> int:
    directory = Path(args.data_dir) / "logs"
    files = sorted(directory.glob("*.log")) if directory.is_dir() else []
    if not files:
        raise CLIError(f"no logs in {directory}; start the system with `hld up`")
    entries: list[tuple[float, int, dict[str, Any] | None, str]] = []
    offsets: dict[Path, int] = {}
    for path in files:
        with path.open(errors="replace") as handle:
            for n, line in enumerate(handle):
                ts, record, text = _parse(line, path.stem)
                if _keep(record, args):
                    entries.append((ts, n, record, text))
            offsets[path] = handle.tell()
    entries.sort(key=lambda e: (e[0], e[1]))
    out = sys.stdout
    for _, _, record, text in entries:
        _show(record, text, args.raw, out)
    out.flush()
    if not args.follow:
        return 0
    try:
        while True:
            time.sleep(FOLLOW_POLL_S)
            for path in sorted(directory.glob("*.log")):
                with path.open(errors="replace") as handle:
                    handle.seek(offsets.get(path, 0))
                    for line in handle:
                        ts, record, text = _parse(line, path.stem)
                        if _keep(record, args):
                            _show(record, text, args.raw, out)
                    offsets[path] = handle.tell()
            out.flush()
    except KeyboardInterrupt:
        return 0
