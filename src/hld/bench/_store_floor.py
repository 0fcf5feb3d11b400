"""The floor for ``hld bench store --floor``: the least a Python server can do per request.

A bare asyncio server on uvloop with hiredis' C reader that keeps a dict and answers
GET, SET and PING (anything else gets an empty array) — no expiry, no types, no
statistics, no persistence, no limits on bad input. It is not part of hld-store and must
never serve anyone: it exists so that the store benchmark can show, in the same run,
how much of redis-server's speed a Python process can reach at all on this machine, and
therefore how much of hld-store's gap is its features and how much is the language.

    python -m hld.bench._store_floor PORT
"""

from __future__ import annotations

import asyncio
import sys

import hiredis
import uvloop


class _Floor(asyncio.Protocol):
    def __init__(self, data: dict[bytes, bytes]) -> None:
        self.data = data
        self.reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is no subclass

    def data_received(self, chunk: bytes) -> None:
        if not chunk.startswith(b"*"):  # an inline PING from the benchmark's start-up check
            self.transport.write(b"+PONG\r\n")  # type: ignore[union-attr]
            return
        reader = self.reader
        reader.feed(chunk)
        out = []
        while (argv := reader.gets()) is not False:
            name = argv[0].upper()
            if name == b"GET":
                value = self.data.get(argv[1])
                out.append(b"$-1\r\n" if value is None
                           else b"$%d\r\n%b\r\n" % (len(value), value))
            elif name == b"SET":
                self.data[argv[1]] = argv[2]
                out.append(b"+OK\r\n")
            elif name == b"PING":
                out.append(b"+PONG\r\n")
            else:
                out.append(b"*0\r\n")
        if out:
            self.transport.write(b"".join(out))  # type: ignore[union-attr]


async def _serve(port: int) -> None:
    data: dict[bytes, bytes] = {}
    loop = asyncio.get_running_loop()
    await loop.create_server(lambda: _Floor(data), "127.0.0.1", port)
    await asyncio.Event().wait()


def main() -> None:
    uvloop.run(_serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
