"""Stop a running reference system (the one whose state is in the data directory)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import time
from pathlib import Path

from hld.runtime.commands import CLIError

STOP_WAIT_S = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=".hld", help="the system's data directory")


def run(args: argparse.Namespace) -> int:
    from hld.control.supervisor import pid_alive, read_state

    state = read_state(Path(args.data_dir))
    if state is None:
        raise CLIError(f"no running system found in {args.data_dir} (nothing to stop)")
    pid = int(state["control_pid"])
    if pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    # Whatever survived a dead control plane goes now, process group by process group.
    for component in state.get("components", []):
        child = component.get("pid")
        if child and pid_alive(int(child)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(child), signal.SIGKILL)
    state_file = Path(args.data_dir) / "system.json"
    if state_file.exists():
        state_file.unlink()
    print("hld down: stopped")
    return 0
