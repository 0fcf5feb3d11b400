"""``hld bench hashing``: a tiny run prints every pair with ratios; bad flags are one line."""

from __future__ import annotations

import json
import math

import pytest

from hld.bench import hashing as bench
from hld.cli import main


def test_a_tiny_run_reports_every_pair(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["bench", "hashing", "--quick", "--keys", "300", "--rounds", "1",
                   "--nodes", "4", "--format", "json"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["name"] == "hashing"
    rows = report["rows"]
    assert [r["block"] for r in rows] == [block for block, _, _, _ in bench.PAIRS]
    for row in rows:
        assert set(row) == set(bench.COLUMNS)
        assert row["ours_ns"] > 0
        assert row["peer_ns"] > 0
        assert row["ratio"] == pytest.approx(row["ours_ns"] / row["peer_ns"])
        assert row["peer"].startswith("uhashring")
    ring = rows[0]
    assert (ring["ours"], ring["target_ratio"]) == ("hld HashRing", 0.5)
    assert ring["meets_target"] in ("yes", "no")
    assert math.isnan(rows[3]["target_ratio"])


def test_interleave_reports_fastest_and_median_rounds() -> None:
    calls: list[str] = []
    figures = bench.interleave({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                               ops=1, rounds=3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then alternating
    assert set(figures) == {"a", "b"}
    assert all(fastest <= median for fastest, median in figures.values())


@pytest.mark.parametrize(("args", "message"), [
    (["--nodes", "0"], "--nodes 0: must be between"),
    (["--keys", "5"], "--keys 5: must be between"),
    (["--rounds", "0"], "--rounds 0: must be between"),
])
def test_bad_flags_are_one_line_errors(capsys: pytest.CaptureFixture[str], args: list[str],
                                       message: str) -> None:
    status = main(["bench", "hashing", *args])
    err = capsys.readouterr().err
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
