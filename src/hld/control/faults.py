"""A fault-injecting TCP proxy placed in front of each service.

Traffic to a service's public port goes through a ``FaultProxy`` to its internal port.
Faults can be switched on and off while connections are open (a menu in the spirit of
Toxiproxy's toxics):

* ``latency_ms`` (+ ``jitter_ms``): every chunk waits that long before it is forwarded;
* ``bandwidth_kbps``: chunks are paced to that rate in each direction;
* ``reset``: open connections are reset (RST) and new ones are reset on arrival;
* ``blackhole``: connections are accepted and data is swallowed, nothing is answered —
  the worst kind of failure, since clients only notice by timing out;
* ``down``: new connections are refused, as if the service were gone.

Tests and the control plane drive it directly; there is no network namespace or ``tc``
here (netem is unavailable on these machines), so faults live at the TCP level.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from dataclasses import asdict, dataclass

CHUNK_BYTES = 64 * 1024           # read size; also the unit of pacing
CONNECTIONS_MAX = 4096            # per proxy; beyond it new connections are refused
CONNECT_TIMEOUT_S = 2.0


@dataclass(slots=True)
class Faults:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    bandwidth_kbps: float = 0.0   # 0 = unlimited
    reset: bool = False
    blackhole: bool = False
    down: bool = False

    def clear(self) -> None:
        self.latency_ms = self.jitter_ms = self.bandwidth_kbps = 0.0
        self.reset = self.blackhole = self.down = False

    @property
    def active(self) -> bool:
        return any(asdict(self).values())


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER with a zero timeout)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


class FaultProxy:
    """``listen_port`` → ``target_port`` on ``host``, with switchable faults."""

    def __init__(self, name: str, host: str, listen_port: int, target_port: int,
                 rng: random.Random | None = None) -> None:
        self.name = name
        self.host = host
        self.listen_port = listen_port
        self.target_port = target_port
        self.faults = Faults()
        self.rng = rng or random.Random()
        self.server: asyncio.Server | None = None
        self.links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter | None]] = set()
        self.bytes_forwarded = 0
        self.connections_total = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, self.host, self.listen_port,
                                                 reuse_address=True, limit=CHUNK_BYTES)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for client, upstream in list(self.links):
            client.close()
            if upstream is not None:
                upstream.close()

    def set(self, **faults: float | bool) -> None:
        """Change faults live, e.g. ``set(latency_ms=200)``; unknown names are errors."""
        for key, value in faults.items():
            if not hasattr(self.faults, key):
                raise ValueError(f"unknown fault {key!r}; known: "
                                 f"{', '.join(asdict(self.faults))}")
            if isinstance(value, bool) != isinstance(getattr(self.faults, key), bool):
                raise ValueError(f"fault {key!r} expects "
                                 f"{type(getattr(self.faults, key)).__name__}")
            if not isinstance(value, bool) and value < 0:
                raise ValueError(f"fault {key!r} must be >= 0, got {value}")
            setattr(self.faults, key, value)
        if self.faults.reset:
            for client, upstream in list(self.links):
                _reset(client)
                if upstream is not None:
                    _reset(upstream)

    def clear(self) -> None:
        self.faults.clear()

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "listen_port": self.listen_port,
                "target_port": self.target_port, "connections": len(self.links),
                "faults": asdict(self.faults)}

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        faults = self.faults
        if faults.down or faults.reset or len(self.links) >= CONNECTIONS_MAX:
            _reset(writer)
            return
        self.connections_total += 1
        if faults.blackhole:
            link: tuple[asyncio.StreamWriter, asyncio.StreamWriter | None] = (writer, None)
            self.links.add(link)
            try:
                while await reader.read(CHUNK_BYTES):
                    pass  # swallow everything, answer nothing
            except OSError:
                pass
            finally:
                self.links.discard(link)
                writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.target_port), CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError):
            _reset(writer)  # the service is gone: the client sees what it would see
            return
        link = (writer, up_writer)
        self.links.add(link)
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            self.links.discard(link)
            writer.close()
            up_writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        faults = self.faults
        try:
            while True:
                data = await reader.read(CHUNK_BYTES)
                if not data:
                    break
                if faults.blackhole:
                    continue
                delay_s = faults.latency_ms / 1000.0
                if faults.jitter_ms:
                    delay_s += self.rng.uniform(0, faults.jitter_ms) / 1000.0
                if faults.bandwidth_kbps:
                    delay_s += len(data) / (faults.bandwidth_kbps * 1000.0 / 8.0)
                if delay_s > 0:
                    await asyncio.sleep(delay_s)
                writer.write(data)
                self.bytes_forwarded += len(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(OSError):
                if writer.can_write_eof():
                    writer.write_eof()
