"""Real chirp processes for black-box tests: a store, an app server, fan-out workers.

``chirp`` builds a system per test on a module-wide store server (hld-store by default;
the ``backend`` parameter picks a real redis-server instead), flushed first so tests do
not see each other's streams. Every process a test starts is stopped at teardown
(SIGTERM, then SIGKILL), and each writes its JSON log to the test's directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.app.postgres import PostgresServer, missing_reason
from tests.store.store_process import StoreProcess
from tests.support import free_port, require, wait_for_port

START_TIMEOUT_S = 30.0   # the machine is shared and loaded: imports alone can take seconds
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05


def poll(check: Any, timeout_s: float = 10.0, what: str = "condition") -> Any:
    """Call ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout_s}s")
        time.sleep(POLL_S)


class Proc:
    """One ``python -m hld.cli ...`` process with its log file."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.log_path = log_path
        # the app and the worker run standalone (python -m hld.app.cli): faster to start,
        # and independent of other commands' modules; the CLI test covers ``hld app``
        module = {"app": "hld.app.cli", "worker": "hld.app.worker_cli"}.get(args[0])
        argv = [module, *args[1:]] if module else ["hld.cli", *args]
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", *argv],
                                         stdout=log, stderr=subprocess.STDOUT)

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict):
                    lines.append(record)
        return lines

    def events(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.log_lines() if r.get("event") == event]

    def kill9(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        return self.proc.returncode


class Chirp:
    """A chirp system under test: config, app servers and workers on one store server."""

    def __init__(self, directory: Path, store_port: int, cache_port: int) -> None:
        self.dir = directory
        self.store_port = store_port
        self.cache_port = cache_port
        self.procs: list[Proc] = []
        self.clients: list[httpx.Client] = []
        self.store = redis.Redis(port=store_port, decode_responses=True)
        self.cache = redis.Redis(port=cache_port, decode_responses=True)
        self.store.flushall()
        self.cache.flushall()
        self.config = directory / "system.toml"
        self.configure()

    def configure(self, *, app: dict[str, Any] | None = None,
                  workers: dict[str, Any] | None = None,
                  store: dict[str, Any] | None = None) -> None:
        """Write system.toml; tests make timeouts short and WAIT cheap."""
        sections = {"app": {"fanout_read_threshold": 50, **(app or {})},
                    "workers": {"visibility_timeout_s": 1.0, "max_deliveries": 3,
                                **(workers or {})},
                    "store": {"wait_replicas": 0, **(store or {})}}
        text = f'data_dir = "{self.dir / "data"}"\n'
        for name, values in sections.items():
            text += f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n"
                                              for k, v in values.items())
        self.config.write_text(text)

    def _common(self) -> list[str]:
        return ["--config", str(self.config), "--store", f"redis://127.0.0.1:{self.store_port}",
                "--cache", f"redis://127.0.0.1:{self.cache_port}"]

    def app(self, *extra: str) -> httpx.Client:
        """Start an app server and wait until it is healthy."""
        return self.up(0, *extra)[0]

    def worker(self, index: int, *extra: str) -> Proc:
        """Start a worker and wait until it consumes."""
        proc = self._launch_worker(index, *extra)
        self._wait_worker(proc)
        return proc

    def up(self, workers: int, *app_extra: str) -> tuple[httpx.Client, list[Proc]]:
        """An app server and ``workers`` workers, started together (starts are slow here)."""
        app, client = self.launch_app(*app_extra)
        started = [self._launch_worker(i) for i in range(1, workers + 1)]
        self.wait_app(app, client)
        for proc in started:
            self._wait_worker(proc)
        return client, started

    def launch_app(self, *extra: str) -> tuple[Proc, httpx.Client]:
        port = free_port()
        app = Proc(["app", "--port", str(port), "--name", f"app-{port}", *self._common(),
                    *extra], self.dir / f"app-{port}.log")
        self.procs.append(app)
        self.app_proc = app
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10.0)
        self.clients.append(client)
        return app, client

    @staticmethod
    def wait_app(app: Proc, client: httpx.Client) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if app.proc.poll() is not None:
                raise RuntimeError(f"app exited: {app.log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/healthz").status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError("app did not become healthy")
            time.sleep(0.1)

    def _launch_worker(self, index: int, *extra: str) -> Proc:
        proc = Proc(["worker", "--index", str(index), "--metrics-port", "0", *self._common(),
                     *extra], self.dir / f"worker-{index}.log")
        self.procs.append(proc)
        return proc

    def _wait_worker(self, proc: Proc) -> None:
        poll(lambda: proc.events("worker_started") or proc.proc.poll() is not None,
             START_TIMEOUT_S, "worker start")
        assert proc.proc.poll() is None, proc.log_path.read_text()[-2000:]

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        for proc in reversed(self.procs):
            proc.stop()
        self.store.close()
        self.cache.close()


def _store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    server = StoreProcess(tmp_path_factory.mktemp("hld-store"))
    try:
        server.start()
        yield server.port
    finally:
        server.stop()


@pytest.fixture(scope="session")
def hld_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """An hld-store that each ``chirp`` system flushes before use."""
    yield from _store(tmp_path_factory)


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The ``shared`` system's own hld-store (never flushed while it runs)."""
    yield from _store(tmp_path_factory)


@pytest.fixture(scope="session")
def redis_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    binary = require("redis-server")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def shared(shared_store: int, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Chirp, httpx.Client]]:
    """One app and one worker on the test settings, shared by tests that need no others.

    Starting processes costs seconds on this machine, so tests that need no special
    configuration share them and keep apart by using their own usernames.
    """
    system = Chirp(tmp_path_factory.mktemp("chirp"), shared_store, shared_store)
    try:
        client, _ = system.up(1)
        yield system, client
    finally:
        system.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on a free loopback port (skipped only when not installed)."""
    reason = missing_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; .ci/run should install it")
        pytest.skip(reason)
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["hld"])
def backend(request: pytest.FixtureRequest) -> str:
    """Which store server the chirp system uses; tests parametrize it to run on both."""
    return str(request.param)


@pytest.fixture
def chirp(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chirp]:
    port = int(request.getfixturevalue("hld_store" if backend == "hld" else "redis_store"))
    system = Chirp(tmp_path, port, port)
    try:
        yield system
    finally:
        system.stop()


PASSWORD = "password1"  # noqa: S105 (a test user's)


def signup(client: httpx.Client, username: str) -> dict[str, Any]:
    reply = client.post("/api/signup", json={"username": username, "password": PASSWORD})
    assert reply.status_code == 201, reply.text
    body: dict[str, Any] = reply.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
