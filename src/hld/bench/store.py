"""hld-store against redis-server, side by side in one run.

redis-benchmark drives both servers with the same flags (SET and GET, 50 clients, with
and without ``-P 16``; then both again with ``appendonly yes``/``appendfsync everysec``),
alternating ours and peer so that noise from other processes on the machine hits both.
Each row gives requests per second and p50/p99 latency (redis-benchmark ``--csv``) for
ours and the peer, and ours/peer. The memory rows load N keys (16-byte keys, 32-byte
values, pipelined) into each server and report INFO ``used_memory`` and the process RSS
(``/proc/PID/status``). Targets: rps ratio >= 0.8, p99 ratio <= 1.5, RSS ratio <= 1.5.

``--floor`` adds rows ``[bare python floor]``: the same runs against a bare uvloop +
hiredis server that only keeps a dict (``hld.bench._store_floor``), in the "ours"
column. They show what share of redis-server's speed any Python server reaches on this
machine, so that hld-store's gap can be read as features versus language.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hld.runtime.commands import CLIError
from hld.runtime.report import add_format_argument, emit

NAME = "store"
HELP = "hld-store vs redis-server: redis-benchmark rps/p50/p99 and memory for 1M keys"

CLIENTS = 50
PIPELINE = 16
KEY_BYTES = 16
VALUE_BYTES = 32
LOAD_BATCH = 1000
START_TIMEOUT_S = 30.0
BENCH_TIMEOUT_S = 600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="small runs (20k requests, 100k keys) for a smoke check")
    parser.add_argument("--requests", type=int, default=None,
                        help="requests per redis-benchmark run (default 200000)")
    parser.add_argument("--keys", type=int, default=None,
                        help="keys loaded for the memory rows (default 1000000)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per row per server; the median is reported")
    parser.add_argument("--no-aof", action="store_true", help="skip the appendonly rows")
    parser.add_argument("--floor", action="store_true",
                        help="also run a bare uvloop+hiredis dict server (the Python floor)")
    add_format_argument(parser)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CLIError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            time.sleep(0.05)
    raise CLIError(f"server on port {port} did not answer PING within {START_TIMEOUT_S}s")


class _Server:
    def __init__(self, kind: str, workdir: Path, aof: bool) -> None:
        self.kind = kind
        self.port = _free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        appendonly = ["--appendonly", "yes", "--appendfsync", "everysec"] if aof else \
            ["--appendonly", "no"]
        if kind == "ours":
            cmd = [sys.executable, "-m", "hld.cli", "store", "--port", str(self.port),
                   "--dir", str(workdir), "--save", "", *appendonly]
        elif kind == "floor":
            cmd = [sys.executable, "-m", "hld.bench._store_floor", str(self.port)]
        else:
            cmd = [str(shutil.which("redis-server")), "--port", str(self.port), "--bind",
                   "127.0.0.1", "--save", "", "--dir", str(workdir), *appendonly]
        self.proc = subprocess.Popen(  # noqa: S603 - our own fixed argv
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(self.port, self.proc)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def rss_bytes(self) -> int:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return 0
        return 0


def _benchmark(port: int, test: str, requests: int, pipeline: int) -> dict[str, float]:
    cmd = [str(shutil.which("redis-benchmark")), "-h", "127.0.0.1", "-p", str(port),
           "-c", str(CLIENTS), "-n", str(requests), "-t", test, "-P", str(pipeline), "--csv"]
    done = subprocess.run(  # noqa: S603 - our own fixed argv
        cmd, capture_output=True, text=True, timeout=BENCH_TIMEOUT_S, check=False)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    if not rows:
        raise CLIError(f"redis-benchmark printed no CSV for {test}: {done.stderr[-300:]}")
    row = rows[-1]
    return {"rps": float(row["rps"]), "p50_ms": float(row.get("p50_latency_ms", "nan")),
            "p99_ms": float(row.get("p99_latency_ms", "nan"))}


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _load(port: int, n_keys: int) -> None:
    """SET key:%012d -> 32-byte value, pipelined in batches of LOAD_BATCH."""
    value = b"v" * VALUE_BYTES
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        for start in range(0, n_keys, LOAD_BATCH):
            stop = min(start + LOAD_BATCH, n_keys)
            payload = b"".join(
                b"*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$32\r\n%b\r\n" % (i, value)
                for i in range(start, stop))
            sock.sendall(payload)
            expected = 5 * (stop - start)
            got = 0
            while got < expected:
                chunk = sock.recv(65536)
                if not chunk:
                    raise CLIError(f"server on port {port} closed during the load")
                got += len(chunk)


def _info_field(port: int, field: str) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"INFO memory\r\n")
        data = b""
        while not data.endswith(b"\r\n\r\n") and b"mem_allocator" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    for line in data.decode(errors="replace").splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    return 0


def _row(benchmark: str, metric: str, ours: float, peer: float) -> dict[str, Any]:
    return {"benchmark": benchmark, "metric": metric, "ours": round(ours, 2),
            "peer": round(peer, 2), "ratio": round(ours / peer, 3) if peer else 0.0}


def _throughput_rows(tmp: Path, aof: bool, requests: int, repeat: int,
                     kind: str = "ours") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ours = _Server(kind, tmp / f"{kind}-{aof}", aof)
    try:
        peer = _Server("peer", tmp / f"peer-{aof}", aof)
        try:
            for pipeline in (1, PIPELINE):
                for test in ("set", "get"):
                    results: dict[str, list[dict[str, float]]] = {"ours": [], "peer": []}
                    for _ in range(repeat):  # alternate, so noise hits both
                        results["ours"].append(_benchmark(ours.port, test, requests, pipeline))
                        results["peer"].append(_benchmark(peer.port, test, requests, pipeline))
                    name = f"{test.upper()} -c {CLIENTS} -P {pipeline}" + \
                        (" aof everysec" if aof else "") + \
                        (" [bare python floor]" if kind == "floor" else "")
                    rows.extend(_row(name, metric,
                                     _median([r[metric] for r in results["ours"]]),
                                     _median([r[metric] for r in results["peer"]]))
                                for metric in ("rps", "p50_ms", "p99_ms"))
        finally:
            peer.stop()
    finally:
        ours.stop()
    return rows


def _memory_rows(tmp: Path, n_keys: int) -> list[dict[str, Any]]:
    figures: dict[str, tuple[int, int]] = {}
    for kind in ("ours", "peer"):
        server = _Server(kind, tmp / f"mem-{kind}", False)
        try:
            _load(server.port, n_keys)
            time.sleep(0.5)
            figures[kind] = (_info_field(server.port, "used_memory"), server.rss_bytes())
        finally:
            server.stop()
    name = f"{n_keys} keys ({KEY_BYTES} B keys, {VALUE_BYTES} B values)"
    mb = 1024 * 1024
    return [_row(name, "used_memory_mb", figures["ours"][0] / mb, figures["peer"][0] / mb),
            _row(name, "rss_mb", figures["ours"][1] / mb, figures["peer"][1] / mb)]


def run(args: argparse.Namespace) -> int:
    for binary in ("redis-server", "redis-benchmark"):
        if shutil.which(binary) is None:
            raise CLIError(f"{binary} is not installed; install redis-server (apt) first")
    requests = args.requests if args.requests is not None else (20_000 if args.quick
                                                                else 200_000)
    n_keys = args.keys if args.keys is not None else (100_000 if args.quick else 1_000_000)
    if requests < 1 or n_keys < 0 or args.repeat < 1:
        raise CLIError("--requests and --repeat must be at least 1, --keys at least 0")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hld-bench-store-") as name:
        tmp = Path(name)
        rows += _throughput_rows(tmp, False, requests, args.repeat)
        if args.floor:
            rows += _throughput_rows(tmp, False, requests, args.repeat, kind="floor")
        if not args.no_aof:
            rows += _throughput_rows(tmp, True, requests, args.repeat)
        if n_keys:
            rows += _memory_rows(tmp, n_keys)
    emit(NAME, rows, args.format, title="hld-store vs redis-server (ratio = ours/peer)",
         columns=["benchmark", "metric", "ours", "peer", "ratio"])
    return 0
