"""Run a chirp fan-out worker: ``hld worker --index N [--config system.toml] [...]``.

The consumer is named ``worker-N``; Prometheus metrics are served on 127.0.0.1 at
``--metrics-port`` (default 8200+N). SIGTERM or SIGINT finish the batch in hand,
acknowledge it and exit.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from hld.app.cli import add_store_arguments, settings_from, standalone
from hld.app.settings import Settings
from hld.runtime.commands import CLIError

METRICS_BASE_PORT = 8200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", type=int, required=True, help="worker number (1, 2, ...)")
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help=f"Prometheus /metrics port (default {METRICS_BASE_PORT}+INDEX;"
                             " 0 for none)")
    parser.add_argument("--delay-ms", type=float, default=0.0, metavar="MS",
                        help="fault injection: sleep this long per message (tests, demos)")
    add_store_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.index <= 1000:
        raise CLIError(f"--index must be 0-1000, got {args.index}")
    port = METRICS_BASE_PORT + args.index if args.metrics_port is None else args.metrics_port
    if not 0 <= port <= 65535:
        raise CLIError(f"--metrics-port must be 0-65535, got {port}")
    if args.delay_ms < 0:
        raise CLIError("--delay-ms must be >= 0")
    name = f"worker-{args.index}"
    settings = settings_from(args, name)
    return asyncio.run(_main(settings, name, port, args.delay_ms / 1000))


async def _main(settings: Settings, name: str, metrics_port: int, delay_s: float) -> int:
    from prometheus_client import start_http_server

    from hld.app.logs import JsonLog
    from hld.app.settings import Topology
    from hld.app.sql import Database
    from hld.app.stores import Stores
    from hld.app.worker import FanoutWorker, WorkerMetrics

    log = JsonLog(name)
    metrics = WorkerMetrics()
    if metrics_port:
        try:
            start_http_server(metrics_port, addr="127.0.0.1", registry=metrics.registry)
        except OSError as exc:
            raise CLIError(f"metrics port {metrics_port} is taken ({exc.strerror}); "
                           "choose another with --metrics-port") from None

    def topology_changed(topology: Topology) -> None:
        log("topology_changed", level="warning", store_primary=topology.primary)

    settings.data_path.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sql)
    await db.open()
    stores = Stores(settings, topology_changed)
    stores.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = FanoutWorker(settings, name, db, stores, log=log, metrics=metrics,
                          delay_s=delay_s)
    try:
        await worker.run(stop)
    finally:
        await stores.close()
        await db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(standalone("hld worker", add_arguments, run))
