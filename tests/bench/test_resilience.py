"""``hld bench resilience --quick``: shape of the rows; speed targets live in the bench."""

from __future__ import annotations

import json
import math

import pytest

from hld.bench.resilience import rows_from
from hld.cli import main


def test_quick_run_reports_ours_peer_both_figures_and_ratio(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "resilience", "--quick", "--rounds", "1", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["name"] == "resilience"
    pairs = {(r["ours"], r["peer"]) for r in out["rows"]}
    assert {("breaker", "pybreaker"), ("retry", "tenacity"), ("retry+budget", "tenacity"),
            ("retry", "backoff")} <= pairs
    for row in out["rows"]:
        assert {"bare_ns", "ours_ns", "peer_ns", "ours_over_ns", "peer_over_ns", "ratio",
                "target_ratio", "meets_target", "peer_version"} <= set(row)
        assert row["ours_ns"] > 0
        assert row["peer_ns"] > 0


def test_ratio_is_ours_over_peer_overhead() -> None:
    ns = {"bare": 100.0, "breaker": 150.0, "pybreaker": 300.0, "retry": 120.0,
          "retry+budget": 140.0, "tenacity": 1100.0, "backoff": 300.0}
    rows = {(r["ours"], r["peer"]): r for r in rows_from(ns)}
    assert rows[("breaker", "pybreaker")]["ratio"] == 0.25
    assert rows[("breaker", "pybreaker")]["meets_target"] is True
    assert rows[("retry", "tenacity")]["ratio"] == 0.02
    assert rows[("retry+budget", "tenacity")]["meets_target"] is True
    assert math.isnan(rows[("retry", "backoff")]["target_ratio"])
    assert ("breaker", "circuitbreaker") not in rows  # not installed: left out


def test_a_missed_target_is_reported_as_missed() -> None:
    ns = {"bare": 100.0, "breaker": 400.0, "pybreaker": 300.0, "retry": 120.0,
          "retry+budget": 140.0, "tenacity": 1100.0, "backoff": 300.0}
    rows = {(r["ours"], r["peer"]): r for r in rows_from(ns)}
    assert rows[("breaker", "pybreaker")]["meets_target"] is False
    assert rows[("retry", "backoff")]["meets_target"] == "-"


def test_bad_rounds_give_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "resilience", "--rounds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--rounds" in err
