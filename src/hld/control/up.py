"""Start the reference system on this machine and keep it up until Ctrl-C.

  hld up [--config system.toml]

Each component runs as its own process on loopback (gateway, app servers, workers,
store primary and replica, cache node) with a fault proxy in front of each service;
this process is the control plane and serves the dashboard. Ctrl-C (or `hld down`)
stops everything; nothing is left running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from hld.runtime.commands import CLIError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", metavar="system.toml", default=None,
                        help="system configuration (default: the embedded defaults)")


def load_plane(config_path: str | None) -> object:
    from hld.control.plane import ControlError, ControlPlane
    from hld.control.system import SystemConfigError, load

    try:
        config = load(config_path)
        plane = ControlPlane(config, config_path=config_path)
        plane.check_ports()
        plane.prepare()
    except (SystemConfigError, ControlError) as exc:
        raise CLIError(str(exc)) from None
    return plane


async def serve(plane: object,
                after_start: Callable[[object], Coroutine[Any, Any, bool]] | None = None) -> int:
    """Start, serve the control API and dashboard, run ``after_start``, wait for a signal."""
    import uvicorn

    from hld.control.plane import ControlPlane
    from hld.control.web import create_app

    assert isinstance(plane, ControlPlane)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"hld up: starting the system (data in {plane.data_dir})", flush=True)
    try:
        await plane.start()
    except (RuntimeError, OSError) as exc:
        print(f"hld up: error: {exc}", file=sys.stderr, flush=True)
        await plane.stop()
        return 1
    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the control plane owns SIGINT and SIGTERM

    server = Server(uvicorn.Config(create_app(plane), host=plane.host,
                                   port=plane.config.control.port, log_level="warning",
                                   lifespan="off"))
    web = loop.create_task(server.serve())
    urls = plane.urls()
    print("hld up: the system is up", flush=True)
    for name in ("gateway", "dashboard", "gateway_metrics", "store", "replica", "cache", "sql"):
        print(f"  {name:16} {urls[name]}", flush=True)
    print("  Ctrl-C (or `hld down`) stops everything.", flush=True)
    keep_running = True
    if after_start is not None:
        scenario = loop.create_task(after_start(plane))
        waiter = loop.create_task(stop.wait())
        done, _ = await asyncio.wait({scenario, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if scenario in done:
            keep_running = scenario.result()
            waiter.cancel()
        else:
            scenario.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scenario
    if keep_running:
        await stop.wait()
    print("hld up: stopping", flush=True)
    server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError):
        await web
    await plane.stop()
    print("hld up: stopped; nothing left running", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    plane = load_plane(args.config)
    return asyncio.run(serve(plane))
