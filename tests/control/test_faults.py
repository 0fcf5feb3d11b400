"""The fault proxy forwards bytes, and each fault does what it says, switchable live."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from hld.control.faults import FaultProxy
from tests.support import free_port


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


Scenario = Callable[[FaultProxy], Awaitable[None]]


async def with_proxy(scenario: Scenario) -> None:
    target = free_port()
    server = await asyncio.start_server(echo, "127.0.0.1", target)
    proxy = FaultProxy("echo", "127.0.0.1", free_port(), target)
    await proxy.start()
    try:
        await scenario(proxy)
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()


async def roundtrip(proxy: FaultProxy, payload: bytes = b"ping", timeout_s: float = 2.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.listen_port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), timeout_s)
    finally:
        writer.close()


def test_bytes_pass_through_unchanged() -> None:
    async def scenario(proxy: FaultProxy) -> None:
        assert await roundtrip(proxy, b"x" * 100_000) == b"x" * 100_000
    asyncio.run(with_proxy(scenario))


def test_latency_delays_each_direction() -> None:
    async def scenario(proxy: FaultProxy) -> None:
        proxy.set(latency_ms=100)
        started = time.monotonic()
        assert await roundtrip(proxy) == b"ping"
        assert time.monotonic() - started >= 0.2  # 100 ms there and 100 ms back
    asyncio.run(with_proxy(scenario))


def test_bandwidth_paces_large_payloads() -> None:
    async def scenario(proxy: FaultProxy) -> None:
        proxy.set(bandwidth_kbps=800)  # 100 kB/s
        started = time.monotonic()
        assert await roundtrip(proxy, b"y" * 20_000, timeout_s=5) == b"y" * 20_000
        assert time.monotonic() - started >= 0.2  # 20 kB each way at 100 kB/s
    asyncio.run(with_proxy(scenario))


def test_reset_breaks_open_and_new_connections_then_clears() -> None:
    async def scenario(proxy: FaultProxy) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.listen_port)
        writer.write(b"a")
        assert await reader.readexactly(1) == b"a"
        proxy.set(reset=True)
        async def read_after_reset() -> bytes:
            writer.write(b"b")
            await writer.drain()
            return await asyncio.wait_for(reader.readexactly(1), 2)

        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await read_after_reset()
        writer.close()
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await roundtrip(proxy)
        proxy.clear()
        assert await roundtrip(proxy) == b"ping"
    asyncio.run(with_proxy(scenario))


def test_blackhole_answers_nothing() -> None:
    async def scenario(proxy: FaultProxy) -> None:
        proxy.set(blackhole=True)
        with pytest.raises(TimeoutError):
            await roundtrip(proxy, timeout_s=0.3)
    asyncio.run(with_proxy(scenario))


def test_down_refuses_new_connections() -> None:
    async def scenario(proxy: FaultProxy) -> None:
        proxy.set(down=True)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await roundtrip(proxy)
        assert proxy.describe()["faults"]["down"] is True  # type: ignore[index]
    asyncio.run(with_proxy(scenario))


def test_service_gone_resets_the_client() -> None:
    async def scenario(proxy: FaultProxy) -> None:
        proxy.target_port = free_port()  # nothing listens there
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await roundtrip(proxy)
    asyncio.run(with_proxy(scenario))


@pytest.mark.parametrize(("faults", "message"), [
    ({"latency": 5}, "unknown fault"),
    ({"latency_ms": -1}, ">= 0"),
    ({"reset": 1}, "expects bool"),
])
def test_bad_faults_are_refused(faults: dict[str, object], message: str) -> None:
    proxy = FaultProxy("x", "127.0.0.1", 1, 2)
    with pytest.raises(ValueError, match=message):
        proxy.set(**faults)  # type: ignore[arg-type]


