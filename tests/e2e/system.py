"""Start a whole reference system (`hld up`) for a test, on ports nobody else uses."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hld.control.supervisor import pid_alive, port_free

UP_TIMEOUT_S = 180.0    # a loaded 2-core machine has needed ~60 s
STOP_TIMEOUT_S = 60.0


@dataclass
class RunningSystem:
    process: subprocess.Popen[str]
    data_dir: Path
    config_path: Path
    ports: dict[str, int]
    output: list[str]
    pump: threading.Thread | None = None

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def control(self) -> str:
        return f"http://127.0.0.1:{self.ports['control']}"

    def state(self) -> dict[str, object]:
        state: dict[str, object] = json.loads((self.data_dir / "system.json").read_text())
        return state

    def component_pids(self) -> list[int]:
        components = self.state().get("components", [])
        assert isinstance(components, list)
        return [int(c["pid"]) for c in components if c.get("pid")]


def pick_ports(rng: random.Random) -> dict[str, int]:
    """A block of public ports whose internal twins (+10000) are free too."""
    names = ("gateway", "gateway_admin", "control", "primary", "replica", "cache", "app",
             "app2", "workers")  # worker N's metrics: workers + N
    for _ in range(200):
        base = rng.randrange(20_000, 25_000, 20)
        ports = {name: base + i for i, name in enumerate(names)}
        # hld-store node metrics: store_metrics + 1..3 (clear of the two workers' ports)
        ports["store_metrics"] = base + 12
        wanted = [p for name, p in ports.items() if name != "store_metrics"]
        wanted += [p + 10_000 for p in wanted]
        wanted += [ports["workers"] + n for n in (1, 2)]
        wanted += [ports["store_metrics"] + n for n in (1, 2, 3)]
        if all(port_free("127.0.0.1", p) for p in wanted):
            return ports
    raise RuntimeError("no free block of ports found")


def write_config(path: Path, data_dir: Path, ports: dict[str, int], extra: str = "",
                 backend: str = "hld") -> None:
    path.write_text(f"""
data_dir = "{data_dir}"
[gateway]
port = {ports['gateway']}
admin_port = {ports['gateway_admin']}
[control]
port = {ports['control']}
[store]
backend = "{backend}"
primary_port = {ports['primary']}
replica_port = {ports['replica']}
failover_after_s = 2.0
metrics_base_port = {ports['store_metrics']}
[cache]
port = {ports['cache']}
[app]
base_port = {ports['app']}
[workers]
count = 2
visibility_timeout_s = 2.0
metrics_base_port = {ports['workers']}
{extra}
""")


def _pump(process: subprocess.Popen[str], output: list[str], ready: threading.Event) -> None:
    """Copy ``hld up``'s output into ``output``; set ``ready`` once it says how to stop it."""
    assert process.stdout is not None
    with process.stdout:  # closed here, once the process is gone: no unclosed pipe
        for line in process.stdout:
            output.append(line)
            if "Ctrl-C" in line:
                ready.set()
    ready.set()  # exited: whoever waits looks at process.poll()


@contextlib.contextmanager
def running_system(tmp: Path, extra: str = "", seed: int = 7,
                   backend: str = "hld") -> Iterator[RunningSystem]:
    ports = pick_ports(random.Random(seed + os.getpid()))
    data_dir = tmp / "data"
    config_path = tmp / "system.toml"
    write_config(config_path, data_dir, ports, extra, backend)
    process = subprocess.Popen(
        [sys.executable, "-m", "hld.cli", "up", "--config", str(config_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output: list[str] = []
    system = RunningSystem(process, data_dir, config_path, ports, output)
    ready = threading.Event()
    pump = threading.Thread(target=_pump, args=(process, output, ready), daemon=True)
    pump.start()
    system.pump = pump
    try:
        if not ready.wait(UP_TIMEOUT_S):
            raise RuntimeError("hld up did not come up in time:\n" + "".join(output))
        if process.poll() is not None or not any("Ctrl-C" in line for line in output):
            process.wait(timeout=10)
            pump.join(timeout=10)
            raise RuntimeError("hld up exited:\n" + "".join(output))
        yield system
    finally:
        stop(system)


def stop(system: RunningSystem) -> None:
    process = system.process
    pids: list[int] = []
    with contextlib.suppress(OSError, ValueError, AssertionError):
        pids = system.component_pids()
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    for pid in pids:  # a test must never leave a process behind, even when hld up failed to
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    if system.pump is not None:
        system.pump.join(timeout=10)
