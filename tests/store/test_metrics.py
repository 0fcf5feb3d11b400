"""hld-store's Prometheus /metrics port, scraped with httpx from a real store process."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hld.store import limits
from hld.store.cli import add_arguments, build_config
from tests.store.store_process import StoreProcess
from tests.support import free_port


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StoreProcess, int]]:
    metrics_port = free_port()
    server = StoreProcess(Path(tmp_path_factory.mktemp("metrics")),
                          "--metrics-port", str(metrics_port))
    try:
        server.start()
        yield server, metrics_port
    finally:
        server.stop()


def _scrape(port: int) -> dict[str, float]:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {sample.name + (f"{{role={sample.labels['role']}}}" if "role" in sample.labels
                           else ""): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def test_metrics_report_the_figures_info_reports(store: tuple[StoreProcess, int]) -> None:
    server, port = store
    with server.client() as r:
        r.set("m:a", "1")
        r.get("m:a")
        r.get("m:missing")
        r.set("m:gone", "1", px=1)
        before = _scrape(port)
        r.get("m:a")
        r.get("m:nothing")
        after = _scrape(port)
        info = r.info()
    assert after["hld_store_keyspace_hits_total"] - before["hld_store_keyspace_hits_total"] == 1
    assert (after["hld_store_keyspace_misses_total"]
                 - before["hld_store_keyspace_misses_total"]) == 1
    assert info["connected_clients"] == after["hld_store_connected_clients"]
    assert after["hld_store_commands_processed_total"] >= 6
    assert after["hld_store_used_memory_bytes"] > 0
    assert after["hld_store_role{role=master}"] == 1
    assert after["hld_store_aof_enabled"] == 0
    assert info["master_repl_offset"] == after["hld_store_replication_offset_bytes"]
    for name in ("hld_store_evicted_keys_total", "hld_store_expired_keys_total",
                 "hld_store_keys", "hld_store_uptime_seconds"):
        assert name in after


def test_other_paths_and_methods_are_refused(store: tuple[StoreProcess, int]) -> None:
    _, port = store
    assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5.0).status_code == 404
    assert httpx.post(f"http://127.0.0.1:{port}/metrics", timeout=5.0).status_code == 405


def test_an_oversized_request_head_is_dropped_and_the_port_keeps_serving(
        store: tuple[StoreProcess, int]) -> None:
    _, port = store
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
        head = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * (2 * limits.METRICS_REQUEST_BYTES_MAX)
        sock.sendall(head)
        assert sock.recv(100) == b""
    assert "hld_store_keys" in _scrape(port)


def test_metrics_port_is_off_by_default_and_binds_loopback() -> None:
    assert build_config(_args([])).metrics_port == 0
    config = build_config(_args(["--metrics-port", "9121"]))
    assert (config.metrics_port, config.metrics_bind) == (9121, "127.0.0.1")


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_a_taken_metrics_port_is_named_in_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = StoreProcess(tmp_path, "--metrics-port", str(port))
        try:
            server.start(wait=False)
            assert server.wait_exit(timeout_s=30) == 2
        finally:
            server.stop()
    assert f"cannot listen on 127.0.0.1:{port} (metrics port)" in server.log()
    assert "Traceback" not in server.log()
