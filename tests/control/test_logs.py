"""`hld logs`: every component's JSON lines merged in time order, filtered by request id."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from hld.control import logs
from hld.runtime.commands import CLIError


def write(path: Path, *records: dict[str, object]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def args(data_dir: Path, **overrides: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    logs.add_arguments(parser)
    namespace = parser.parse_args(["--data-dir", str(data_dir), "--raw"])
    for key, value in overrides.items():
        setattr(namespace, key, value)
    return namespace


def test_lines_from_every_component_are_merged_by_time(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "logs").mkdir()
    write(tmp_path / "logs" / "gateway.log",
          {"ts": 3.0, "event": "request", "request_id": "r1"},
          {"ts": 5.0, "event": "request", "request_id": "r2"})
    write(tmp_path / "logs" / "app-1.log",
          {"ts": 2.0, "event": "post_created", "request_id": "r1"},
          {"ts": 4.0, "event": "request", "request_id": "r2"})
    assert logs.run(args(tmp_path)) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["ts"] for r in shown] == [2.0, 3.0, 4.0, 5.0]


def test_request_id_keeps_only_that_requests_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "logs").mkdir()
    write(tmp_path / "logs" / "worker-1.log",
          {"ts": 6.0, "event": "fanout", "request_id": "r1"},
          {"ts": 7.0, "event": "fanout", "request_id": "r9"})
    (tmp_path / "logs" / "store-primary.log").write_text("hld-store ready\n")
    assert logs.run(args(tmp_path, request_id="r1")) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert shown == [{"ts": 6.0, "event": "fanout", "request_id": "r1"}]  # --raw: unchanged


def test_a_store_node_is_named_after_its_log_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Three store nodes all log component "store"; the file says which one spoke."""
    (tmp_path / "logs").mkdir()
    write(tmp_path / "logs" / "store-primary.log",
          {"ts": 1.0, "event": "xadd", "component": "store", "request_id": "r1"})
    write(tmp_path / "logs" / "store-replica.log",
          {"ts": 2.0, "event": "xadd", "component": "store", "request_id": "r1"})
    write(tmp_path / "logs" / "gateway.log",
          {"ts": 3.0, "event": "request", "component": "gateway", "request_id": "r1"})
    assert logs.run(args(tmp_path, raw=False, component=["store-replica", "gateway"])) == 0
    shown = capsys.readouterr().out.splitlines()
    assert [line.split()[1:4] for line in shown] == [
        ["store-replica", "xadd", "request_id=r1"], ["gateway", "request", "request_id=r1"]]


def test_a_data_dir_without_logs_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(CLIError, match="no logs in"):
        logs.run(args(tmp_path))
