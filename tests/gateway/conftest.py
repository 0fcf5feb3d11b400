"""Fixtures for the gateway's black-box tests: real upstream and gateway processes.

``Upstream`` runs ``upstream_app.py`` on a free loopback port; ``GatewayProcess`` runs
``python -m hld.cli gateway --config FILE`` with a generated TOML file, waits for its
port, and stops it (SIGTERM, then SIGKILL) however the test ends. Each module starts the
few processes it needs once (module-scoped), with short timeouts in its configuration.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port, wait_for_port

APP = Path(__file__).with_name("upstream_app.py")
ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_S = 5.0
START_TIMEOUT_S = 20.0


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)


class Upstream:
    """One upstream_app.py process; restartable on the same port."""

    def __init__(self, name: str, port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Upstream:
        return self.launch().ready()

    def launch(self) -> Upstream:
        self.proc = subprocess.Popen(
            [sys.executable, str(APP), "--port", str(self.port), "--name", self.name],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def ready(self) -> Upstream:
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)
            self.proc = None

    def get(self, path: str) -> Any:
        return json.loads(plain_get(self.port, path)[1])

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/stats")
        return result

    def hits(self, path: str = "*") -> int:
        return int(self.stats()["hits"].get(path, 0))

    def reset(self) -> None:
        self.get("/reset")


class GatewayProcess:
    """``hld gateway --config FILE`` as a real process."""

    def __init__(self, config: str, directory: Path, port: int, admin_port: int) -> None:
        self.directory = directory
        self.port = port
        self.admin_port = admin_port
        self.config_path = directory / "gateway.toml"
        self.config_path.write_text(config)
        self.log_path = directory / "gateway.log"
        self.err_path = directory / "gateway.err"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self) -> GatewayProcess:
        return self.launch().ready()

    def launch(self) -> GatewayProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        with self.log_path.open("ab") as out, self.err_path.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hld.cli", "gateway", "--config", str(self.config_path)],
                stdout=out, stderr=err, env=env, cwd=self.directory)
        return self

    def ready(self) -> GatewayProcess:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (listening(self.port) and listening(self.admin_port)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gateway did not start: {self.err_path.read_text()}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    def metrics(self) -> str:
        return plain_get(self.admin_port, "/metrics")[1].decode()

    def status(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(plain_get(self.admin_port, "/status")[1])
        return result

    def client(self) -> httpx.Client:
        return http_client(self.url)

    def log_records(self) -> list[dict[str, Any]]:
        """Access-log lines written so far (the gateway flushes at least every sweep)."""
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def plain_get(port: int, path: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
    """A GET over http.client: no TLS set-up cost (httpx loads CA files per client)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def http_client(base_url: str, **kwargs: Any) -> httpx.Client:
    """An httpx client for plain-HTTP tests; verify=False skips loading the CA bundle,
    which costs most of a second per client on a loaded machine."""
    kwargs.setdefault("timeout", 10.0)
    kwargs.setdefault("verify", False)
    return httpx.Client(base_url=base_url, **kwargs)


def gateway_config(body: str, *, port: int, admin_port: int, timeouts: bool = True) -> str:
    """A full TOML file: one listener, the admin port, short test timeouts, and ``body``."""
    head = (f'[[listeners]]\naddress = "127.0.0.1:{port}"\n\n'
            f'[admin]\naddress = "127.0.0.1:{admin_port}"\n\n')
    if timeouts and "[gateway]" not in body:
        head += ('[gateway]\nheader_timeout_s = 1.0\nbody_idle_timeout_s = 1.0\n'
                 'body_timeout_s = 3.0\nkeepalive_timeout_s = 5.0\n\n')
    return head + body


@contextmanager
def running_gateway(body: str, directory: Path) -> Iterator[GatewayProcess]:
    port, admin_port = free_port(), free_port()
    gateway = GatewayProcess(gateway_config(body, port=port, admin_port=admin_port),
                             directory, port, admin_port)
    try:
        yield gateway.start()
    finally:
        gateway.stop()


@contextmanager
def running_gateways(bodies: list[str], directories: list[Path]) -> Iterator[
        list[GatewayProcess]]:
    """Several gateways started side by side."""
    gateways = []
    for body, directory in zip(bodies, directories, strict=True):
        port, admin_port = free_port(), free_port()
        gateways.append(GatewayProcess(gateway_config(body, port=port, admin_port=admin_port),
                                       directory, port, admin_port))
    try:
        for gateway in gateways:
            gateway.launch()
        for gateway in gateways:
            gateway.ready()
        yield gateways
    finally:
        for gateway in gateways:
            gateway.stop()


@contextmanager
def running_upstream(name: str) -> Iterator[Upstream]:
    upstream = Upstream(name)
    try:
        yield upstream.start()
    finally:
        upstream.stop()


@contextmanager
def running_upstreams(*names: str) -> Iterator[dict[str, Upstream]]:
    """Several upstreams started side by side (each takes a while to import on a busy box)."""
    upstreams = {name: Upstream(name) for name in names}
    try:
        for upstream in upstreams.values():
            upstream.launch()
        for upstream in upstreams.values():
            upstream.ready()
        yield upstreams
    finally:
        for upstream in upstreams.values():
            upstream.stop()


@pytest.fixture(scope="module")
def processes() -> Iterator[ExitStack]:
    """An exit stack that stops, at the end of the module, whatever a fixture started."""
    with ExitStack() as stack:
        yield stack


def start(stack: ExitStack, manager: AbstractContextManager[Any]) -> Any:
    return stack.enter_context(manager)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0,
               interval_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s")


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        series, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            total += float(value)
    return total
