"""A small real HTTP/1.1 server that the gateway tests put behind hld-gateway.

    python tests/gateway/upstream_app.py --port P --name N

Stdlib asyncio streams only, so it parses independently of the gateway (llhttp): a
request the gateway should have refused shows up here if it leaked. Every request except
the bookkeeping ones (/stats, /reset) is counted, so a test can assert that an attack
"was never forwarded". Endpoints:

    /echo                 JSON: name, conn (per-connection id), method, path, headers, body
    /status/CODE          answers CODE
    /slow?ms=N            answers after N ms
    /hang                 never answers
    /chunked              a chunked response in several pieces
    /sse?n=&gap_ms=       server-sent events, one every gap_ms
    /ws                   WebSocket echo (RFC 6455 handshake and framing, minimal)
    /big?bytes=N          N bytes of text/plain
    /cache?max_age=N&cc=&vary=   a cacheable response with an ETag; counts its hits
    /healthz              200, or 503 after /toggle-health
    /fail-then-ok?n=&key= 503 for the first n requests per key, then 200
    /stats  /reset        hit counters (not counted themselves)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import struct
from collections import Counter
from urllib.parse import parse_qs, urlsplit

WS_GUID = b"258EAFA5-E914-47CA-95C1-C5AB0DC11B5F"
HEAD_BYTES_MAX = 256 * 1024


class App:
    def __init__(self, name: str) -> None:
        self.name = name
        self.connections = 0
        self.hits: Counter[str] = Counter()
        self.paths: list[str] = []
        self.healthy = True
        self.failures: Counter[str] = Counter()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn_id = self.connections
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers: list[tuple[str, str]] = []
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers.append((name.strip().lower(), value.strip()))
                hmap = dict(headers)
                body = await read_body(reader, hmap)
                parts = urlsplit(target)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                path = parts.path
                if path not in ("/stats", "/reset"):
                    self.hits[path] += 1
                    self.hits["*"] += 1
                    if len(self.paths) < 10_000:
                        self.paths.append(target)
                keep = await self.dispatch(method, target, query=query, headers=headers,
                                           hmap=hmap, body=body, conn_id=conn_id,
                                           reader=reader, writer=writer)
                if not keep or hmap.get("connection", "").lower() == "close":
                    return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def dispatch(self, method: str, target: str, *, query: dict[str, str],
                       headers: list[tuple[str, str]], hmap: dict[str, str], body: bytes,
                       conn_id: int, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> bool:
        path = urlsplit(target).path

        def send(status: int, payload: bytes, ctype: str = "application/json",
                 extra: list[tuple[str, str]] | None = None) -> None:
            out = [f"HTTP/1.1 {status} X", f"content-type: {ctype}",
                   f"content-length: {len(payload)}", f"x-upstream: {self.name}"]
            out += [f"{n}: {v}" for n, v in extra or ()]
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode()
                         + (b"" if method == "HEAD" else payload))

        if path == "/echo" or path.startswith("/echo/"):
            send(200, json.dumps({
                "name": self.name, "conn": conn_id, "method": method,
                "path": path, "target": target,
                "headers": hmap, "header_list": headers, "body_bytes": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest()}).encode())
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            send(code, json.dumps({"name": self.name, "status": code}).encode())
        elif path == "/slow":
            await asyncio.sleep(float(query.get("ms", "100")) / 1000)
            send(200, json.dumps({"name": self.name, "slow": True}).encode())
        elif path == "/hang":
            await asyncio.sleep(3600)
        elif path == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                         b"transfer-encoding: chunked\r\n\r\n")
            for i in range(5):
                piece = f"piece {i} from {self.name}\n".encode()
                writer.write(b"%x\r\n%b\r\n" % (len(piece), piece))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\n\r\n")
        elif path == "/sse":
            count, gap_s = int(query.get("n", "4")), float(query.get("gap_ms", "300")) / 1000
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n")
            for i in range(count):
                event = f"id: {i}\ndata: event {i}\n\n".encode()
                writer.write(b"%x\r\n%b\r\n" % (len(event), event))
                await writer.drain()
                if i < count - 1:
                    await asyncio.sleep(gap_s)
            writer.write(b"0\r\n\r\n")
        elif path == "/ws":
            await websocket_echo(hmap, reader, writer)
            return False
        elif path == "/big":
            size = int(query.get("bytes", "100000"))
            send(200, (b"hello gateway " * (size // 14 + 1))[:size], "text/plain")
        elif path == "/cache":
            tag = query.get("tag", "v1")
            etag = f'"{tag}"'
            extra = [("etag", etag)]
            if "cc" in query:
                extra.append(("cache-control", query["cc"]))
            elif "max_age" in query:
                extra.append(("cache-control", f"max-age={query['max_age']}"))
            if "vary" in query:
                extra.append(("vary", query["vary"]))
            if hmap.get("if-none-match") == etag:
                writer.write(f"HTTP/1.1 304 Not Modified\r\netag: {etag}\r\n\r\n".encode())
            else:
                lang = hmap.get("accept-language", "")
                send(200, json.dumps({"name": self.name, "hit": self.hits["/cache"],
                                      "lang": lang}).encode(), extra=extra)
        elif path == "/healthz":
            send(200 if self.healthy else 503, b'{"ok": %s}' % (b"true" if self.healthy
                                                                else b"false"))
        elif path == "/toggle-health":
            self.healthy = not self.healthy
            send(200, json.dumps({"healthy": self.healthy}).encode())
        elif path == "/fail-then-ok":
            key = query.get("key", "")
            self.failures[key] += 1
            if self.failures[key] <= int(query.get("n", "1")):
                send(503, b'{"failing": true}')
            else:
                send(200, b'{"failing": false}')
        elif path == "/stats":
            send(200, json.dumps({"name": self.name, "hits": dict(self.hits),
                                  "connections": self.connections,
                                  "paths": self.paths[-200:]}).encode())
        elif path == "/reset":
            self.hits.clear()
            self.paths.clear()
            self.failures.clear()
            self.healthy = True
            send(200, b"{}")
        else:
            send(404, b'{"error": "not found"}')
        await writer.drain()
        return True


async def read_body(reader: asyncio.StreamReader, hmap: dict[str, str]) -> bytes:
    if hmap.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(hmap.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


async def websocket_echo(hmap: dict[str, str], reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
    key = hmap.get("sec-websocket-key", "").encode()
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()  # noqa: S324
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
                  f"connection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n").encode())
    await writer.drain()
    while True:
        try:
            first, second = await reader.readexactly(2)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        opcode = first & 0x0F
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await reader.readexactly(8))
        mask = await reader.readexactly(4) if second & 0x80 else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(await reader.readexactly(length)))
        if opcode == 0x8:  # close: answer it and stop
            writer.write(b"\x88\x00")
            await writer.drain()
            return
        reply_opcode = 0xA if opcode == 0x9 else opcode  # ping -> pong, else echo
        writer.write(ws_frame(reply_opcode, data, masked=False))
        await writer.drain()


def ws_frame(opcode: int, data: bytes, *, masked: bool) -> bytes:
    """One final WebSocket frame (clients mask with a fixed key: fine for tests)."""
    head = bytes([0x80 | opcode])
    mask_bit = 0x80 if masked else 0
    if len(data) < 126:
        head += bytes([mask_bit | len(data)])
    elif len(data) < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", len(data))
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", len(data))
    if not masked:
        return head + data
    mask = b"\x1f\x2e\x3d\x4c"
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="up")
    args = parser.parse_args()
    app = App(args.name)
    server = await asyncio.start_server(app.handle, "127.0.0.1", args.port,
                                        limit=HEAD_BYTES_MAX)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
