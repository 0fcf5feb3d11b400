"""``hld bench store`` runs end to end on tiny sizes and prints the documented rows."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import require


@pytest.mark.slow
def test_bench_store_quick_json_shape() -> None:
    require("redis-server")
    require("redis-benchmark")
    done = subprocess.run(
        [sys.executable, "-m", "hld.cli", "bench", "store", "--quick", "--requests", "2000",
         "--keys", "2000", "--no-aof", "--floor", "--format", "json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["name"] == "store"
    rows = result["rows"]
    assert {tuple(sorted(r)) for r in rows} == {("benchmark", "metric", "ours", "peer", "ratio")}
    metrics = [(r["benchmark"], r["metric"]) for r in rows]
    assert ("SET -c 50 -P 1", "rps") in metrics
    assert ("GET -c 50 -P 16", "p99_ms") in metrics
    assert ("2000 keys (16 B keys, 32 B values)", "rss_mb") in metrics
    assert ("GET -c 50 -P 16 [bare python floor]", "rps") in metrics
    assert all(r["ours"] > 0 and r["peer"] > 0 for r in rows)


def test_bench_store_refuses_bad_sizes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hld.cli", "bench", "store", "--requests", "0"],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "error: --requests and --repeat must be at least 1" in done.stderr
