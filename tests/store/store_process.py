"""Start and stop real hld-store processes for black-box tests.

``StoreProcess`` runs ``python -m hld.cli store --port P --dir D ...`` on a free loopback
port, waits until it answers PING, and always stops it (SIGTERM, then SIGKILL). ``kill9``
is the crash the durability tests need. Output goes to a log file in the data directory
so a test can read what the server said (truncation warnings, refusal to start).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from tests.support import free_port

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


class StoreProcess:
    """One hld-store server process with its own data directory."""

    def __init__(self, data_dir: Path, *args: str, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.args = args
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"server-{self.port}.log"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "hld.cli", "store", "--port", str(self.port),
                "--dir", str(self.data_dir), *self.args]

    def start(self, *, wait: bool = True) -> StoreProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         cwd=self.data_dir)
        finally:
            log.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"hld-store exited with {self.proc.returncode}: "
                                   f"{self.log()[-2000:]}")
            with contextlib.suppress(redis.ConnectionError, redis.TimeoutError), \
                    self.client(socket_timeout=1.0) as probe:
                if probe.ping():
                    return
            time.sleep(0.05)
        raise TimeoutError(f"hld-store on port {self.port} not ready after {timeout_s}s")

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(port=self.port, **kwargs)  # type: ignore[arg-type]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_exit(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout_s)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def running(data_dir: Path, *args: str, port: int | None = None) -> Iterator[StoreProcess]:
    """A started server, stopped on exit whatever happens."""
    server = StoreProcess(data_dir, *args, port=port)
    try:
        server.start()
        yield server
    finally:
        server.stop()
