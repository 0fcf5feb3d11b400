"""``hld lab jitter``: the AWS backoff experiment, run tiny."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from hld.cli import main
from hld.core.resilience import ExponentialBackoff, NoBackoff
from hld.lab.jitter import STRATEGIES, simulate


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["lab", "jitter", *args, "--format", "json"]) == 0
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_json_has_one_row_per_client_count_and_strategy(
        capsys: pytest.CaptureFixture[str]) -> None:
    out = run_json(capsys, "--clients", "2,4", "--runs", "2")
    assert out["name"] == "jitter"
    rows = out["rows"]
    assert isinstance(rows, list)
    assert [(r["clients"], r["strategy"]) for r in rows] == [
        (c, s) for c in (2, 4) for s in STRATEGIES]
    for row in rows:
        assert set(row) == {"clients", "strategy", "completion_ms", "completion_ms_p50",
                            "calls", "runs"}
        assert row["calls"] >= row["clients"]  # every client writes at least once
        assert row["completion_ms"] > 0


def test_same_seed_same_result(capsys: pytest.CaptureFixture[str]) -> None:
    first = run_json(capsys, "--clients", "3", "--runs", "1", "--seed", "9")
    again = run_json(capsys, "--clients", "3", "--runs", "1", "--seed", "9")
    assert first == again


def test_a_lone_client_writes_once_in_four_network_hops() -> None:
    elapsed_s, calls = simulate(1, NoBackoff(0.005, 2.0), random.Random(1))
    assert calls == 1
    assert 0.02 < elapsed_s < 0.06  # read, reply, write, reply at about 10 ms each


def test_contention_costs_extra_calls() -> None:
    _, calls = simulate(20, ExponentialBackoff(0.005, 2.0), random.Random(2))
    assert calls > 20


@pytest.mark.slow  # importing matplotlib takes seconds on a loaded machine
def test_plot_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "jitter.png"
    assert main(["lab", "jitter", "--clients", "2", "--runs", "1", "--plot",
                 str(target)]) == 0
    assert target.stat().st_size > 0
    assert "full_jitter" in capsys.readouterr().out


@pytest.mark.parametrize("args", [
    ["--clients", "0"], ["--clients", "ten"], ["--clients", "100000"], ["--clients", ","],
    ["--runs", "0"], ["--plot", "out.jpg"], ["--plot", "/nonexistent-hld-folder/out.png"],
])
def test_bad_flags_give_one_line_and_exit_2(args: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "jitter", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("hld lab: error:")
