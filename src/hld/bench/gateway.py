"""hld-gateway against nginx, proxying the same upstream, side by side in one run.

    hld bench gateway [--quick] [--duration S] [--connections N] [--workers N]
                      [--rounds R] [--idle N]

Both proxies forward to one upstream, itself an nginx server block that returns a fixed
body, so the upstream is never the bottleneck. nginx runs as a process with a generated
configuration in a temporary prefix (``nginx -c CONF -p PREFIX -g 'daemon off;'``), the
same number of worker processes as the gateway, and upstream keep-alive. wrk drives each
proxy in turn (the order alternates between rounds, and the median round counts, because
the machine is shared); ``wrk --latency`` gives p50 and p99. Each proxy's own CPU time
(user + system, from /proc) per request is reported too: on a shared machine throughput
follows the share of CPU a process gets, while CPU per request is the proxy's own cost.

Scenarios: ``plain`` (no policies, no access log on either side) and ``policies`` (the
gateway verifies a fixed HS256 JWT sent by wrk, rate-limits per client address with a
limit nothing reaches, writes JSON access logs and counts metrics; nginx, which has no JWT
verification of its own, writes its access log). Targets: requests per second at least
0.7x nginx's plain and 0.5x with policies, p99 within 2x.

``--floor`` adds a row ``floor``: a bare uvloop + llhttp proxy
(``hld.bench._gateway_floor``, no policies, no checks) against the plain nginx, showing
how much of nginx's speed any Python proxy reaches on this machine.

Memory: the bench opens ``--idle`` keep-alive connections to each proxy from this
process (plain sockets, one request each, then idle) and reports the growth of the
proxy's resident set per connection (target: at most 16 KB for the gateway).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hld.runtime.commands import CLIError
from hld.runtime.report import add_format_argument, emit

NAME = "gateway"
HELP = "hld-gateway vs nginx: rps and p50/p99 via wrk, RSS per idle connection"

RPS_TARGET_PLAIN, RPS_TARGET_POLICIES, P99_TARGET = 0.7, 0.5, 2.0
IDLE_BYTES_TARGET = 16 * 1024
DURATION_S_DEFAULT, DURATION_S_QUICK = 10, 1  # wrk takes whole seconds
ROUNDS_DEFAULT, ROUNDS_QUICK = 3, 1
IDLE_DEFAULT, IDLE_QUICK = 10_000, 200
CONNECTIONS_DEFAULT = 50
START_TIMEOUT_S = 20.0
FD_HEADROOM = 512  # descriptors beyond the idle connections (wrk, logs, pipes)
UPSTREAM_BODY = "hello from the upstream, a fixed body of modest size\n"
JWT_SECRET = "bench-secret-with-at-least-thirty-two-bytes"  # noqa: S105 - a bench key

COLUMNS = ["scenario", "ours", "peer", "ours_rps", "peer_rps", "rps_ratio", "ours_p50_ms",
           "peer_p50_ms", "ours_p99_ms", "peer_p99_ms", "p99_ratio", "ours_cpu_us_per_req",
           "peer_cpu_us_per_req", "cpu_ratio", "target_rps_ratio", "meets_target"]
MEMORY_COLUMNS = ["scenario", "ours", "peer", "connections", "ours_bytes_per_conn",
                  "peer_bytes_per_conn", "ratio", "target_bytes_per_conn", "meets_target"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="short runs and few idle connections (a smoke test)")
    parser.add_argument("--duration", type=int, default=None, metavar="S",
                        help=f"seconds per wrk run (default {DURATION_S_DEFAULT}, "
                             f"quick {DURATION_S_QUICK})")
    parser.add_argument("--connections", type=int, default=CONNECTIONS_DEFAULT, metavar="N",
                        help=f"wrk connections (default {CONNECTIONS_DEFAULT})")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="worker processes of each proxy (default 1)")
    parser.add_argument("--rounds", type=int, default=None, metavar="R",
                        help=f"interleaved rounds, median kept (default {ROUNDS_DEFAULT})")
    parser.add_argument("--idle", type=int, default=None, metavar="N",
                        help=f"idle keep-alive connections for the memory figure "
                             f"(default {IDLE_DEFAULT}, quick {IDLE_QUICK}; 0 skips it)")
    parser.add_argument("--floor", action="store_true",
                        help="also measure a bare uvloop+llhttp proxy (the Python floor)")
    add_format_argument(parser)


@dataclass(frozen=True, slots=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int = 0
    cpu_us_per_request: float = float("nan")  # the proxy's own CPU (user + system)


def run(args: argparse.Namespace) -> int:
    duration_s = args.duration if args.duration is not None else (
        DURATION_S_QUICK if args.quick else DURATION_S_DEFAULT)
    rounds = args.rounds if args.rounds is not None else (
        ROUNDS_QUICK if args.quick else ROUNDS_DEFAULT)
    idle = args.idle if args.idle is not None else (IDLE_QUICK if args.quick else IDLE_DEFAULT)
    if not 1 <= duration_s <= 600:
        raise CLIError(f"--duration must be between 1 and 600 seconds, got {duration_s}")
    if not 1 <= args.connections <= 10_000:
        raise CLIError(f"--connections must be between 1 and 10000, got {args.connections}")
    if not 1 <= args.workers <= 64:
        raise CLIError(f"--workers must be between 1 and 64, got {args.workers}")
    if not 1 <= rounds <= 50:
        raise CLIError(f"--rounds must be between 1 and 50, got {rounds}")
    if not 0 <= idle <= 100_000:
        raise CLIError(f"--idle must be between 0 and 100000, got {idle}")
    nginx, wrk = shutil.which("nginx"), shutil.which("wrk")
    if nginx is None or wrk is None:
        missing = " and ".join(n for n, p in (("nginx", nginx), ("wrk", wrk)) if p is None)
        raise CLIError(f"{missing} not found on PATH; install them (apt-get install nginx "
                       "wrk, as .ci/run does)")
    if idle:
        _raise_fd_limit(idle + FD_HEADROOM)
    rows: list[dict[str, Any]] = []
    memory_rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hld-bench-gateway-") as tmp:
        root = Path(tmp)
        with contextlib.ExitStack() as stack:
            upstream_port = _free_port()
            stack.enter_context(_nginx(nginx, root / "upstream", _upstream_conf(upstream_port),
                                       upstream_port))
            scenarios = [("plain", False), ("policies", True)]
            if args.floor:
                scenarios.append(("floor", False))
            for scenario, policies in scenarios:
                ours_port, peer_port = _free_port(), _free_port()
                if scenario == "floor":
                    ours = stack.enter_context(_floor(root / "floor", ours_port,
                                                      upstream_port))
                else:
                    ours = stack.enter_context(_gateway(root / f"gw-{scenario}", ours_port,
                                                        upstream_port, args.workers,
                                                        policies))
                peer = stack.enter_context(_nginx(
                    nginx, root / f"nginx-{scenario}",
                    _proxy_conf(peer_port, upstream_port, args.workers, policies,
                                idle + FD_HEADROOM), peer_port))
                headers = [f"Authorization: Bearer {_token()}"] if policies else []
                ours_runs: list[WrkResult] = []
                peer_runs: list[WrkResult] = []
                for index in range(rounds):
                    order = [("ours", ours_port), ("peer", peer_port)]
                    if index % 2:
                        order.reverse()
                    for who, port in order:
                        pids = _tree((ours if who == "ours" else peer).pid)
                        cpu_before_s = _cpu_s(pids)
                        result = _wrk(wrk, port, duration_s, args.connections, headers)
                        cpu_s = _cpu_s(pids) - cpu_before_s
                        result = replace(result, cpu_us_per_request=(
                            cpu_s * 1e6 / result.requests if result.requests else float("nan")))
                        (ours_runs if who == "ours" else peer_runs).append(result)
                rows.append(_row(scenario, ours_runs, peer_runs, policies))
                if idle and scenario == "plain":
                    ours_bytes = _idle_growth(ours_port, _tree(ours.pid), idle)
                    peer_bytes = _idle_growth(peer_port, _tree(peer.pid), idle)
                    memory_rows.append({
                        "scenario": "idle_keepalive", "ours": "hld-gateway", "peer": "nginx",
                        "connections": idle, "ours_bytes_per_conn": ours_bytes,
                        "peer_bytes_per_conn": peer_bytes,
                        "ratio": ours_bytes / peer_bytes if peer_bytes > 0 else float("nan"),
                        "target_bytes_per_conn": float(IDLE_BYTES_TARGET),
                        "meets_target": ours_bytes <= IDLE_BYTES_TARGET})
    emit(NAME, rows, args.format, columns=COLUMNS,
         title=f"hld bench gateway: wrk -c {args.connections}, {duration_s} s x {rounds} "
               f"rounds, {args.workers} worker(s) each")
    if memory_rows:
        emit(NAME + "_memory", memory_rows, args.format, columns=MEMORY_COLUMNS,
             title="RSS growth per idle keep-alive connection")
    return 0


# -- results ---------------------------------------------------------------------------------


def _row(scenario: str, ours: list[WrkResult], peer: list[WrkResult],
         policies: bool) -> dict[str, Any]:
    def median(results: list[WrkResult], field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in results))

    ours_rps, peer_rps = median(ours, "rps"), median(peer, "rps")
    ours_p99, peer_p99 = median(ours, "p99_ms"), median(peer, "p99_ms")
    rps_ratio = ours_rps / peer_rps if peer_rps > 0 else float("nan")
    p99_ratio = ours_p99 / peer_p99 if peer_p99 > 0 else float("nan")
    target = RPS_TARGET_POLICIES if policies else RPS_TARGET_PLAIN
    ours_cpu, peer_cpu = median(ours, "cpu_us_per_request"), median(peer, "cpu_us_per_request")
    return {
        "scenario": scenario, "ours": "python floor" if scenario == "floor" else "hld-gateway",
        "peer": "nginx",
        "ours_rps": ours_rps, "peer_rps": peer_rps, "rps_ratio": rps_ratio,
        "ours_p50_ms": median(ours, "p50_ms"), "peer_p50_ms": median(peer, "p50_ms"),
        "ours_p99_ms": ours_p99, "peer_p99_ms": peer_p99, "p99_ratio": p99_ratio,
        "ours_cpu_us_per_req": ours_cpu, "peer_cpu_us_per_req": peer_cpu,
        "cpu_ratio": ours_cpu / peer_cpu if peer_cpu > 0 else float("nan"),
        "target_rps_ratio": target,
        "meets_target": rps_ratio >= target and p99_ratio <= P99_TARGET,
    }


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_REQUESTS = re.compile(r"(\d+) requests in ")
_PERCENTILE = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> WrkResult:
    """Requests per second and p50/p99 (ms) from ``wrk --latency`` output."""
    rps = _RPS.search(output)
    percentiles = {int(p): float(v) * _UNIT_MS[u] for p, v, u in _PERCENTILE.findall(output)}
    if rps is None or set(percentiles) != {50, 99}:
        raise CLIError(f"could not read wrk's output: {output.strip()[-300:]!r}")
    requests = _REQUESTS.search(output)
    return WrkResult(float(rps.group(1)), percentiles[50], percentiles[99],
                     int(requests.group(1)) if requests else 0)


def _wrk(wrk: str, port: int, duration_s: int, connections: int,
         headers: list[str]) -> WrkResult:
    command = [wrk, "-t", "1", "-c", str(connections), "-d", f"{duration_s}s", "--latency",
               "--timeout", "5s"]
    for header in headers:
        command += ["-H", header]
    command.append(f"http://127.0.0.1:{port}/")
    result = subprocess.run(command, capture_output=True, text=True, check=False,  # noqa: S603
                            timeout=duration_s + 30)
    if result.returncode != 0:
        raise CLIError(f"wrk failed: {result.stderr.strip()[-300:]}")
    return parse_wrk(result.stdout)


# -- processes --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CLIError(f"{what} exited at start: {log.read_text()[-400:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise CLIError(f"{what} did not listen on port {port} within {START_TIMEOUT_S:g} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def _nginx(binary: str, prefix: Path, conf: str, port: int) -> Iterator[
        subprocess.Popen[bytes]]:
    prefix.mkdir(parents=True)
    (prefix / "logs").mkdir()
    (prefix / "nginx.conf").write_text(conf.replace("@PREFIX@", str(prefix)))
    log = prefix / "logs" / "stderr.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([binary, "-c", str(prefix / "nginx.conf"),  # noqa: S603
                                 "-p", str(prefix), "-g", "daemon off;"],
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        _wait_port(port, proc, "nginx", log)
        yield proc
    finally:
        _stop(proc)


def _user_line() -> str:
    # As root, nginx's workers would switch to "nobody", who cannot write our prefix.
    return "user root;\n" if os.geteuid() == 0 else ""


def _common_http(prefix_logs: str) -> str:
    return (f"    client_body_temp_path {prefix_logs}/body;\n"
            f"    proxy_temp_path {prefix_logs}/proxy;\n"
            f"    fastcgi_temp_path {prefix_logs}/fastcgi;\n"
            f"    uwsgi_temp_path {prefix_logs}/uwsgi;\n"
            f"    scgi_temp_path {prefix_logs}/scgi;\n"
            "    keepalive_requests 10000000;\n    keepalive_timeout 300s;\n")


def _upstream_conf(port: int) -> str:
    return (f"{_user_line()}worker_processes 1;\nerror_log @PREFIX@/logs/error.log warn;\n"
            "pid @PREFIX@/logs/nginx.pid;\nevents { worker_connections 4096; }\n"
            "http {\n    access_log off;\n" + _common_http("@PREFIX@/logs") +
            f"    server {{\n        listen 127.0.0.1:{port} backlog=4096;\n"
            f"        location / {{ default_type text/plain; return 200 "
            f"\"{UPSTREAM_BODY.strip()}\\n\"; }}\n    }}\n}}\n")


def _proxy_conf(port: int, upstream_port: int, workers: int, access_log: bool,
                files_max: int) -> str:
    log = ("access_log @PREFIX@/logs/access.log;" if access_log else "access_log off;")
    return (f"{_user_line()}worker_processes {workers};\n"
            f"worker_rlimit_nofile {files_max + 1024};\n"
            "error_log @PREFIX@/logs/error.log warn;\npid @PREFIX@/logs/nginx.pid;\n"
            f"events {{ worker_connections {files_max + 1024}; }}\n"
            f"http {{\n    {log}\n" + _common_http("@PREFIX@/logs") +
            f"    upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 256; }}\n"
            f"    server {{\n        listen 127.0.0.1:{port} backlog=4096;\n"
            "        location / {\n            proxy_pass http://backend;\n"
            "            proxy_http_version 1.1;\n"
            "            proxy_set_header Connection \"\";\n        }\n    }\n}\n")


def _token() -> str:
    import jwt

    payload = {"sub": "bench", "roles": ["reader"], "exp": int(time.time()) + 86_400}
    return jwt.encode(payload, JWT_SECRET, algorithm="HS256", headers={"kid": "bench"})


def _gateway_conf(port: int, admin_port: int, upstream_port: int, workers: int,
                  policies: bool) -> str:
    text = (f'[[listeners]]\naddress = "127.0.0.1:{port}"\n\n'
            f'[admin]\naddress = "127.0.0.1:{admin_port}"\n\n'
            f"[gateway]\nworkers = {workers}\naccess_log = {'true' if policies else 'false'}\n"
            "keepalive_timeout_s = 300\n\n"
            f'[upstreams.up]\nservers = ["http://127.0.0.1:{upstream_port}"]\n\n')
    if policies:
        text += (f'[auth.jwt]\nhmac_secrets = {{ bench = "{JWT_SECRET}" }}\n\n'
                 '[[routes]]\nprefix = "/"\nupstream = "up"\nauth = "jwt"\n'
                 "rate_limit = { rate = 1000000000, per_s = 1, burst = 1000000, key = \"ip\" }\n")
    else:
        text += '[[routes]]\nprefix = "/"\nupstream = "up"\n'
    return text


@contextlib.contextmanager
def _gateway(directory: Path, port: int, upstream_port: int, workers: int,
             policies: bool) -> Iterator[subprocess.Popen[bytes]]:
    directory.mkdir(parents=True)
    config = directory / "gateway.toml"
    config.write_text(_gateway_conf(port, _free_port(), upstream_port, workers, policies))
    log = directory / "stderr.log"
    with (directory / "access.log").open("wb") as out, log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "hld.cli", "gateway",  # noqa: S603
                                 "--config", str(config)],
                                stdout=out, stderr=err, cwd=directory)
    try:
        _wait_port(port, proc, "hld gateway", log)
        yield proc
    finally:
        _stop(proc)


@contextlib.contextmanager
def _floor(directory: Path, port: int, upstream_port: int) -> Iterator[subprocess.Popen[bytes]]:
    directory.mkdir(parents=True)
    log = directory / "stderr.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "hld.bench._gateway_floor",  # noqa: S603
                                 str(port), str(upstream_port)],
                                stdout=subprocess.DEVNULL, stderr=err, cwd=directory)
    try:
        _wait_port(port, proc, "the floor proxy", log)
        yield proc
    finally:
        _stop(proc)


# -- memory ----------------------------------------------------------------------------------


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise CLIError(f"--idle needs {needed} open files but the hard limit is {hard}; "
                       "lower --idle or raise the limit (ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gateway workers, nginx workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, ()))
    return out


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (from /proc/PID/stat)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def _idle_growth(port: int, pids: list[int], count: int) -> float:
    """RSS growth per connection after ``count`` keep-alive connections went idle."""
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    time.sleep(0.5)  # let the previous load's buffers settle
    before = _rss_bytes(pids)
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(request)
            sockets.append(sock)
        for sock in sockets:  # each answer must arrive: the connection was really served
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    raise CLIError(f"a proxy closed idle connection {len(sockets)} of {count}")
                data += chunk
        time.sleep(1.0)
        after = _rss_bytes(pids)
    finally:
        for sock in sockets:
            sock.close()
    return (after - before) / count
