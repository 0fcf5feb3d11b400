"""The supervisor: starts each component as its own OS process and can break it on purpose.

Each child runs ``python -m hld.cli COMPONENT ...`` in its own session (process group),
with stdout and stderr appended to ``DATA_DIR/logs/NAME.log`` (JSON lines from the
components). The supervisor knows every child's pid, port and state, and can kill -9,
pause (SIGSTOP), resume (SIGCONT) and restart it. ``stop_all`` sends SIGTERM in reverse
start order, waits, then SIGKILLs whole process groups, so no process outlives ``hld
up``. The running system is described in ``DATA_DIR/system.json`` for ``hld status``
and ``hld down``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

STOP_GRACE_S = 10.0     # SIGTERM → SIGKILL
READY_TIMEOUT_S = 60.0  # a component that does not listen by then failed to start
RESTARTS_MAX = 100      # a flapping component is left down after this many restarts

Event = Callable[..., None]


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    name: str                   # "store-primary", "app-1", "worker-2", "gateway", ...
    kind: str                   # store | cache | app | worker | gateway | redis
    argv: list[str]
    port: int | None = None     # where it listens (checked for readiness)
    env: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Managed:
    spec: ProcessSpec
    popen: subprocess.Popen[bytes] | None = None
    state: str = "new"          # new | starting | running | paused | exited | killed | stopped
    restarts: int = 0
    started_at: float = 0.0
    exit_code: int | None = None
    log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None


def hld_argv(*args: str) -> list[str]:
    """The command line that runs ``hld ARGS`` with this interpreter."""
    return [sys.executable, "-m", "hld.cli", *args]


def port_open(host: str, port: int, timeout_s: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class Supervisor:
    """Owns the child processes of one running system."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1",
                 on_event: Event | None = None) -> None:
        self.data_dir = data_dir
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.children: dict[str, Managed] = {}
        self.order: list[str] = []
        self.on_event = on_event or (lambda kind, **fields: None)

    # -- starting ------------------------------------------------------------------------

    def start(self, spec: ProcessSpec) -> Managed:
        managed = self.children.get(spec.name)
        if managed is None:
            managed = Managed(spec)
            self.children[spec.name] = managed
            self.order.append(spec.name)
        self._spawn(managed)
        return managed

    def _spawn(self, managed: Managed) -> None:
        spec = managed.spec
        if managed.log is None:
            managed.log = (self.logs / f"{spec.name}.log").open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HLD_COMPONENT": spec.name, **spec.env}
        managed.popen = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            spec.argv, stdin=subprocess.DEVNULL, stdout=managed.log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True, cwd=os.getcwd())
        managed.state = "starting"
        managed.started_at = time.time()
        managed.exit_code = None
        self.on_event("started", component=spec.name, pid=managed.popen.pid)

    def wait_ready(self, name: str, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Block until ``name`` listens on its port; RuntimeError naming its log otherwise."""
        managed = self.children[name]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            code = managed.popen.poll() if managed.popen else None
            if code is not None:
                managed.state = "exited"
                managed.exit_code = code
                raise RuntimeError(f"{name} exited with status {code} while starting; "
                                   f"see {self.logs / (name + '.log')}:\n{self.tail(name)}")
            if managed.spec.port is None or port_open(self.host, managed.spec.port):
                managed.state = "running"
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not listen on port {managed.spec.port} within "
                           f"{timeout_s:.0f}s; see {self.logs / (name + '.log')}")

    def tail(self, name: str, lines: int = 8) -> str:
        path = self.logs / f"{name}.log"
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- breaking on purpose -------------------------------------------------------------

    def signal(self, name: str, signum: int) -> None:
        managed = self._get(name)
        if managed.popen is None or managed.popen.poll() is not None:
            raise RuntimeError(f"{name} is not running")
        os.kill(managed.popen.pid, signum)

    def kill(self, name: str) -> None:
        """kill -9: no goodbye, no flush; what the component did not persist is gone."""
        managed = self._get(name)
        self.signal(name, signal.SIGKILL)
        assert managed.popen is not None
        managed.popen.wait(timeout=STOP_GRACE_S)
        managed.state = "killed"
        self.on_event("killed", component=name)

    def pause(self, name: str) -> None:
        self.signal(name, signal.SIGSTOP)
        self._get(name).state = "paused"
        self.on_event("paused", component=name)

    def resume(self, name: str) -> None:
        self.signal(name, signal.SIGCONT)
        self._get(name).state = "running"
        self.on_event("resumed", component=name)

    def restart(self, name: str, wait: bool = True) -> None:
        managed = self._get(name)
        if managed.restarts >= RESTARTS_MAX:
            raise RuntimeError(f"{name} was restarted {RESTARTS_MAX} times; leaving it down")
        if managed.popen is not None and managed.popen.poll() is None:
            self._stop_one(managed)
        managed.restarts += 1
        self._spawn(managed)
        self.on_event("restarted", component=name)
        if wait:
            self.wait_ready(name)

    def replace_spec(self, name: str, spec: ProcessSpec) -> None:
        """Change how ``name`` starts next time (a promoted replica, a new policy)."""
        self._get(name).spec = spec

    def _get(self, name: str) -> Managed:
        try:
            return self.children[name]
        except KeyError:
            raise KeyError(f"no component named {name!r}; known: "
                           f"{', '.join(self.order)}") from None

    # -- watching --------------------------------------------------------------------

    def poll(self) -> list[str]:
        """Notice children that exited by themselves; returns their names."""
        exited = []
        for name in self.order:
            managed = self.children[name]
            if managed.popen is None or managed.state in ("exited", "killed", "stopped"):
                continue
            code = managed.popen.poll()
            if code is not None:
                managed.state = "exited"
                managed.exit_code = code
                exited.append(name)
                self.on_event("exited", component=name, code=code)
        return exited

    def alive(self, name: str) -> bool:
        managed = self.children.get(name)
        return bool(managed and managed.popen and managed.popen.poll() is None)

    def describe(self) -> list[dict[str, Any]]:
        return [{"name": name, "kind": m.spec.kind, "pid": m.pid, "port": m.spec.port,
                 "state": m.state, "restarts": m.restarts, "exit_code": m.exit_code}
                for name, m in ((n, self.children[n]) for n in self.order)]

    # -- stopping --------------------------------------------------------------------

    def _stop_one(self, managed: Managed, grace_s: float = STOP_GRACE_S) -> None:
        popen = managed.popen
        if popen is None:
            return
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if managed.state == "paused":
                    os.killpg(popen.pid, signal.SIGCONT)
                os.killpg(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(timeout=grace_s)
        # Anything the child left in its process group goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signal.SIGKILL)
        managed.state = "stopped"

    def stop_all(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM everything in reverse start order, then SIGKILL what is left."""
        for name in reversed(self.order):
            managed = self.children[name]
            if managed.popen is not None and managed.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    if managed.state == "paused":
                        os.killpg(managed.popen.pid, signal.SIGCONT)
                    os.killpg(managed.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for name in reversed(self.order):
            managed = self.children[name]
            if managed.popen is None:
                continue
            left = max(0.1, deadline - time.monotonic())
            with contextlib.suppress(subprocess.TimeoutExpired):
                managed.popen.wait(timeout=left)
            self._stop_one(managed, grace_s=1.0)
            if managed.log is not None:
                managed.log.close()
                managed.log = None
        self.on_event("stopped")

    # -- the state file --------------------------------------------------------------

    def write_state(self, extra: dict[str, Any]) -> None:
        state = {"control_pid": os.getpid(), "started_at": time.time(),
                 "components": self.describe(), **extra}
        path = self.data_dir / "system.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(path)


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads((data_dir / "system.json").read_text())
    except (OSError, ValueError):
        return None
    return state


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (exited, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    return True
