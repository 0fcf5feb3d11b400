"""The dashboard in real headless Chromium: numbers move under load; a fault turns a
component red and it recovers after a restart."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.system import RunningSystem, running_system
from tests.support import require

pytestmark = [pytest.mark.blackbox, pytest.mark.slow]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]
TRAFFIC_S_MAX = 120.0


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    with running_system(tmp_path_factory.mktemp("browser"), seed=23) as running:
        yield running


def traffic(gateway: str, stop: threading.Event) -> None:
    """Bounded background load: signs one user up, then reads its timeline."""
    with httpx.Client(base_url=gateway, timeout=5) as client:
        reply = client.post("/api/signup", json={"username": "dash", "password": "pw-123456"})
        token = reply.json().get("token", "")
        headers = {"authorization": f"Bearer {token}"}
        for _ in range(int(TRAFFIC_S_MAX / 0.02)):
            if stop.is_set():
                return
            with contextlib.suppress(httpx.HTTPError):
                client.get("/api/timeline", headers=headers)
            stop.wait(0.02)


def test_dashboard_shows_load_and_a_fault(system: RunningSystem, tmp_path: Path) -> None:
    chromium = require("chromium")
    from playwright.sync_api import sync_playwright

    stop = threading.Event()
    loader = threading.Thread(target=traffic, args=(system.gateway, stop), daemon=True)
    loader.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True,
                                        args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(system.control)
                page.wait_for_function(
                    "() => document.getElementById('conn').textContent === 'live'",
                    timeout=30_000)
                # The gateway's request rate, drawn from the live stream, goes above zero.
                page.wait_for_function(
                    "() => Number(document.querySelector('.chart .value').textContent) > 0",
                    timeout=60_000)
                # Each app server's own p50/p99 (from its /metrics) are on its box, and
                # they move while the load runs.
                for name in ("app-1", "app-2"):
                    node = f'[data-component="{name}"][data-p99-ms]'
                    page.wait_for_selector(node, timeout=60_000)
                    assert "p99" in (page.text_content(node) or "")
                first = {name: page.get_attribute(f'[data-component="{name}"]', "data-p99-ms")
                         for name in ("app-1", "app-2")}
                assert all(float(v or 0) > 0 for v in first.values()), first
                figures = """name => {
                    const node = document.querySelector(`[data-component="${name}"]`);
                    return node && node.hasAttribute("data-p99-ms") ?
                      node.getAttribute("data-p50-ms") + "/" + node.getAttribute("data-p99-ms")
                      : null; }"""
                before = {name: page.evaluate(figures, name) for name in first}
                page.wait_for_function(
                    f"""before => ["app-1", "app-2"].some(name => {{
                         const now = ({figures})(name);
                         return now !== null && now !== before[name];
                       }})""", arg=before, timeout=60_000)
                page.wait_for_selector('[data-component="store-primary"][data-ops]',
                                       timeout=30_000)
                app = '[data-component="app-1"]'
                page.wait_for_selector(f'{app}[data-health="up"]', timeout=30_000)
                page.click(app)
                page.click('button[data-action="kill"]')
                page.wait_for_selector(f'{app}[data-health="down"]', timeout=30_000)
                page.screenshot(path=str(tmp_path / "fault.png"))
                page.click('button[data-action="restart"]')
                page.wait_for_selector(f'{app}[data-health="up"]', timeout=90_000)
                events = page.inner_text("#events")
                assert "killed" in events
                assert "restarted" in events
                page.screenshot(path=str(tmp_path / "recovered.png"))
            finally:
                browser.close()
    finally:
        stop.set()
        loader.join(timeout=10)
