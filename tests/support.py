"""Helpers for tests that start real processes on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest

TRACES = Path(__file__).resolve().parents[2] / "shared" / "traces"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


def require(binary: str) -> str:
    """Path of ``binary``; skip without it, but fail under CI where .ci/run installs it."""
    path = shutil.which(binary)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{binary} is not installed; .ci/run should install it")
        pytest.skip(f"{binary} is not installed")
    return path


def read_http_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One whole HTTP/1.1 response framed by Content-Length: its head and its body (the
    two may arrive in separate reads, or together)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, body
        body += chunk
    assert len(body) == length, "one response at a time"
    return head, body
