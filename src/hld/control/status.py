"""Show what the reference system runs: each component, its pid, port and state."""

from __future__ import annotations

import argparse
from pathlib import Path

from hld.runtime.commands import CLIError
from hld.runtime.report import add_format_argument, emit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=".hld", help="the system's data directory")
    add_format_argument(parser)


def run(args: argparse.Namespace) -> int:
    from hld.control.supervisor import pid_alive, port_open, read_state

    state = read_state(Path(args.data_dir))
    if state is None or not pid_alive(int(state.get("control_pid", 0)) or 1 << 30):
        raise CLIError(f"no running system in {args.data_dir}; start one with `hld up`")
    rows = []
    for component in state.get("components", []):
        pid = component.get("pid")
        port = component.get("port")
        alive = bool(pid) and pid_alive(int(pid))
        listening = port_open("127.0.0.1", int(port)) if port and alive else None
        rows.append({"component": component["name"], "kind": component["kind"],
                     "state": component.get("state", "?"), "pid": str(pid or "-"),
                     "port": str(port or "-"), "running": alive,
                     "listening": "-" if listening is None else listening})
    emit("status", rows, args.format, title=f"hld system (control plane pid "
                                            f"{state['control_pid']})")
    if args.format == "table":
        for name in ("gateway", "dashboard"):
            if name in state:
                print(f"{name}: {state[name]}")
    return 0
