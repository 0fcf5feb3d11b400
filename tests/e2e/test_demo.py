"""`hld demo --exit` end to end: every step of the scripted scenario reports ok."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hld.control.supervisor import pid_alive
from tests.e2e.system import pick_ports, write_config

pytestmark = [pytest.mark.blackbox, pytest.mark.slow]

DEMO_TIMEOUT_S = 420.0  # start-up, six steps and the stop, on a loaded 2-core machine
STOP_TIMEOUT_S = 60.0


def kill_leftovers(data_dir: Path) -> None:
    """Every component the demo started (its control log names them) is gone afterwards."""
    try:
        lines = (data_dir / "logs" / "control.log").read_text().splitlines()
    except OSError:
        return
    for line in lines:
        record = json.loads(line)
        if record.get("kind") == "started" and pid_alive(int(record["pid"])):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(record["pid"]), signal.SIGKILL)


@pytest.mark.timeout(DEMO_TIMEOUT_S + 60)
def test_demo_runs_every_step_ok_and_stops(tmp_path: Path) -> None:
    ports = pick_ports(random.Random(31 + os.getpid()))
    config = tmp_path / "system.toml"
    write_config(config, tmp_path / "data", ports)
    process = subprocess.Popen(
        [sys.executable, "-m", "hld.cli", "demo", "--exit", "--format", "json",
         "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = ""
    try:
        output, _ = process.communicate(timeout=DEMO_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)  # the demo's own clean stop first
        try:
            output, _ = process.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate(timeout=30)
        pytest.fail(f"hld demo did not finish in {DEMO_TIMEOUT_S:.0f}s:\n{output}")
    finally:
        if process.poll() is None:  # the test itself failed or timed out: no orphan demo
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        kill_leftovers(tmp_path / "data")
    report = next(json.loads(line) for line in output.splitlines() if line.startswith("{"))
    rows = report["rows"]
    failed = [row for row in rows if not row["ok"]]
    assert (failed, process.returncode) == ([], 0), output
    assert len(rows) == 6
    assert "nothing left running" in output
