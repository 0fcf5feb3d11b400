"""``hld bench balance``: a tiny run prints every policy; bad flags are one line."""

from __future__ import annotations

import json
import math

import pytest

from hld.bench import balance as bench
from hld.cli import main


def test_a_tiny_run_reports_every_policy(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["bench", "balance", "--quick", "--requests", "50", "--rounds", "1",
                   "--backends", "3", "--format", "json"])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["name"] == "balance"
    rows = report["rows"]
    assert [r["block"] for r in rows] == [block for block, _, _ in bench.POLICIES]
    for row in rows:
        assert set(row) == set(bench.COLUMNS)
        assert row["ours_ns"] > 0
        assert row["lifecycle_ns"] > 0
        if row["peer"] == bench.NO_PEER:
            assert math.isnan(row["peer_ns"])
            assert math.isnan(row["ratio"])
        else:
            assert row["ratio"] == pytest.approx(row["ours_ns"] / row["peer_ns"])
    by_block = {r["block"]: r for r in rows}
    assert by_block["round_robin"]["peer"] == "itertools.cycle"


@pytest.mark.parametrize(("args", "message"), [
    (["--requests", "0"], "--requests 0"),
    (["--rounds", "1000"], "--rounds"),
    (["--backends", "1"], "--backends 1"),
])
def test_bad_flags_are_one_line_errors(capsys: pytest.CaptureFixture[str], args: list[str],
                                       message: str) -> None:
    status = main(["bench", "balance", "--quick", *args])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert message in captured.err
