"""``hld lab limiters``: runs quickly, reports every algorithm, and finds the edge burst."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hld.cli import main
from hld.core.limit import ALGORITHMS
from hld.lab.limiters import COLUMNS, SCENARIOS, max_in_span, run_experiment


def test_max_in_span_counts_a_half_open_span() -> None:
    assert max_in_span([0.0, 0.5, 0.99, 1.0, 1.2], 1.0) == 4
    assert max_in_span([], 1.0) == 0


def test_every_scenario_reports_every_algorithm() -> None:
    rows = run_experiment(10.0, 10, 20.0, seed=3)
    assert [(r["scenario"], r["algorithm"]) for r in rows] == [
        (s, a) for s in SCENARIOS for a in ALGORITHMS]
    assert all(set(COLUMNS) <= set(r) for r in rows)


def test_only_the_fixed_window_admits_twice_its_limit_across_an_edge() -> None:
    rows = run_experiment(10.0, 10, 20.0, seed=3)
    edge = {r["algorithm"]: r["max_in_window_ratio"] for r in rows
            if r["scenario"] == "edge_burst"}
    assert edge.pop("fixed_window") == 2.0
    assert max(edge.values()) <= 1.05


def test_no_algorithm_exceeds_its_bound_in_any_scenario() -> None:
    for row in run_experiment(20.0, 5, 30.0, seed=7):
        assert row["max_in_window"] <= row["bound_in_window"]
        assert row["admitted_ratio"] <= 1.0 + row["window_limit"] * 2 / (20.0 * 30.0)


def test_json_output_is_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "limiters", "--seconds", "5", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["name"] == "limiters"
    assert len(document["rows"]) == len(SCENARIOS) * len(ALGORITHMS)


def test_plot_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "limiters.png"
    assert main(["lab", "limiters", "--seconds", "5", "--format", "csv",
                 "--plot", str(target)]) == 0
    assert target.stat().st_size > 1000
    assert capsys.readouterr().out.startswith(",".join(COLUMNS))


@pytest.mark.parametrize(("args", "message"), [
    (["--rate", "0"], "--rate"), (["--rate", "nan"], "--rate"), (["--rate", "inf"], "--rate"),
    (["--burst", "0"], "--burst"), (["--seconds", "-1"], "--seconds"),
    (["--plot", "out.svg"], "png"),
    (["--plot", "/nonexistent-hld-folder/out.png"], "does not exist"),
])
def test_bad_input_is_one_line_error(args: list[str], message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "limiters", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert err.count("\n") == 1
