"""The floor for ``hld bench gateway --floor``: the least a Python proxy can do per request.

uvloop with llhttp (httptools) on both sides, one upstream connection per client
connection, requests forwarded with their own headers and responses passed back as they
arrive once llhttp says a message is complete. No routing, balancing, limits, timeouts,
checks, ids, logs or metrics — it is not part of hld-gateway and must never face a real
client: it exists so that the gateway benchmark can show, in the same run, how much of
nginx's speed a Python proxy reaches at all on this machine, and therefore how much of
hld-gateway's gap is its features and how much is the language.

    python -m hld.bench._gateway_floor LISTEN_PORT UPSTREAM_PORT
"""

from __future__ import annotations

import asyncio
import sys

import httptools
import uvloop


class _Upstream(asyncio.Protocol):
    def __init__(self, client: _Client) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.parts: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.parts.append(data)
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        self.client.write(b"".join(self.parts))
        self.parts = []


class _Client(asyncio.Protocol):
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.parser = httptools.HttpRequestParser(self)
        self.headers: list[bytes] = []
        self.url = b""
        self.waiting: list[bytes] = []  # requests parsed before the upstream connected
        self.upstream: _Upstream | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is no subclass
        asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, upstream = await loop.create_connection(lambda: _Upstream(self), "127.0.0.1",
                                                   self.upstream_port)
        self.upstream = upstream
        if self.waiting and upstream.transport is not None:
            upstream.transport.write(b"".join(self.waiting))
        self.waiting = []

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append(name + b": " + value + b"\r\n")

    def on_message_complete(self) -> None:
        request = b"".join([self.parser.get_method(), b" ", self.url, b" HTTP/1.1\r\n",
                            *self.headers, b"\r\n"])
        self.headers = []
        upstream = self.upstream
        if upstream is None or upstream.transport is None:
            self.waiting.append(request)
        else:
            upstream.transport.write(request)


async def _serve(port: int, upstream_port: int) -> None:
    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: _Client(upstream_port), "127.0.0.1", port, backlog=4096)
    await asyncio.Event().wait()


def main() -> None:
    uvloop.run(_serve(int(sys.argv[1]), int(sys.argv[2])))


if __name__ == "__main__":
    main()
