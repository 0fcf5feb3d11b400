"""``hld bench gateway``: a quick run has the right shape; bad input is one line."""

from __future__ import annotations

import json

import pytest

from hld.bench.gateway import COLUMNS, MEMORY_COLUMNS, parse_wrk
from hld.cli import main
from tests.support import require

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:1/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  300.00us   9.00ms   90.00%
  Latency Distribution
     50%  950.00us
     75%    1.10ms
     90%    1.50ms
     99%    2.50s
  12345 requests in 1.00s, 2.00MB read
Requests/sec:  12345.67
Transfer/sec:      2.00MB
"""


def test_wrk_output_is_parsed_with_units() -> None:
    result = parse_wrk(WRK_OUTPUT)
    assert (result.rps, result.p50_ms, result.p99_ms) == pytest.approx((12345.67, 0.95, 2500.0))
    assert result.requests == 12345


@pytest.mark.blackbox
@pytest.mark.slow
def test_quick_run_compares_with_nginx(capsys: pytest.CaptureFixture[str]) -> None:
    require("nginx")
    require("wrk")
    code = main(["bench", "gateway", "--quick", "--duration", "1", "--connections", "8",
                 "--idle", "50", "--floor", "--format", "json"])
    assert code == 0
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [d["name"] for d in documents] == ["gateway", "gateway_memory"]
    rows = documents[0]["rows"]
    assert [r["scenario"] for r in rows] == ["plain", "policies", "floor"]
    for row in rows:
        assert list(row) == COLUMNS
        assert (row["ours"], row["peer"]) == (
            "python floor" if row["scenario"] == "floor" else "hld-gateway", "nginx")
        assert row["ours_rps"] > 0
        assert row["peer_rps"] > 0
        assert row["rps_ratio"] == pytest.approx(row["ours_rps"] / row["peer_rps"])
    memory = documents[1]["rows"]
    assert [list(r) for r in memory] == [MEMORY_COLUMNS]
    assert memory[0]["connections"] == 50


@pytest.mark.parametrize(("args", "message"), [
    (["--duration", "0"], "--duration must be between"),
    (["--connections", "0"], "--connections must be between"),
    (["--workers", "99"], "--workers must be between"),
    (["--idle", "-1"], "--idle must be between"),
    (["--rounds", "0"], "--rounds must be between"),
])
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], args: list[str],
                               message: str) -> None:
    assert main(["bench", "gateway", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
