"""``hld lab balancers``: runs small, prints one row per algorithm, rejects bad flags."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hld.cli import main
from hld.lab import balancers as lab


def run_lab(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["lab", "balancers", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_json_has_one_row_per_algorithm_with_every_column(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_lab(capsys, "--requests", "400", "--format", "json")
    assert status == 0
    report = json.loads(out)
    assert report["name"] == "balancers"
    rows = report["rows"]
    assert [r["algorithm"] for r in rows] == list(lab.ALGORITHM_NAMES)
    for row in rows:
        assert set(row) == set(lab.COLUMNS)
        shares = [row[f"share_{s.name}_pct"] for s in lab.SERVERS]
        assert math.fsum(shares) == pytest.approx(100.0)
        assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["p999_ms"]
        assert row["max_in_flight"] >= 1


def test_round_robin_shares_are_equal_and_weighted_follow_weights() -> None:
    rows = lab.run_experiment(600, seed=3, algorithms=["round_robin",
                                                       "weighted_round_robin"])
    by_name = {r["algorithm"]: r for r in rows}
    assert by_name["round_robin"]["share_slow_pct"] == pytest.approx(100 / 6, abs=0.2)
    assert by_name["weighted_round_robin"]["share_fast1_pct"] == pytest.approx(25.0, abs=0.2)


def test_same_seed_same_rows() -> None:
    first = lab.run_experiment(300, seed=5, algorithms=["random", "p2c_peak_ewma"])
    second = lab.run_experiment(300, seed=5, algorithms=["random", "p2c_peak_ewma"])
    assert first == second


def test_every_request_is_routed_once_and_without_timeout_none_fails() -> None:
    workload = lab.make_workload(500, 0.9, seed=2)
    row = lab.simulate(dict(lab.ALGORITHMS)["least_connections"], workload, seed=2,
                       timeout_s=None)
    routed = sum(row[f"share_{s.name}_pct"] for s in lab.SERVERS) * 500 / 100
    assert (round(routed), row["failed_pct"]) == (500, 0.0)


def test_timed_out_requests_count_as_failures_at_the_timeout() -> None:
    workload = lab.make_workload(2000, 1.2, seed=4)  # overloaded on purpose
    row = lab.simulate(dict(lab.ALGORITHMS)["round_robin"], workload, seed=4,
                       timeout_s=0.2)
    assert row["failed_pct"] > 0
    assert row["p999_ms"] == pytest.approx(200.0)


def test_plot_writes_a_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "balancers.png"
    status, _, _ = run_lab(capsys, "--requests", "200", "--algorithms", "round_robin,ewma",
                           "--format", "csv", "--plot", str(target))
    assert status == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--requests", "5"], "--requests 5"),
    (["--requests", "999999999"], "--requests"),
    (["--utilisation", "nan"], "--utilisation"),
    (["--utilisation", "3"], "--utilisation"),
    (["--report-interval-s", "0"], "--report-interval-s"),
    (["--timeout-ms", "-5"], "--timeout-ms"),
    (["--algorithms", "fastest"], "choose from"),
    (["--plot", "out.jpg"], "png"),
    (["--plot", "/nonexistent-hld-folder/out.png"], "does not exist"),
])
def test_bad_flags_are_one_line_errors(capsys: pytest.CaptureFixture[str], args: list[str],
                                       message: str) -> None:
    status, out, err = run_lab(capsys, "--requests", "200", *args)
    assert status == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert "Traceback" not in err
