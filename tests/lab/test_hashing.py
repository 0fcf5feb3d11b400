"""``hld lab hashing``: runs small, prints the promised rows, rejects nonsense flags."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hld.cli import main
from hld.core.hashing import MaglevHash
from hld.lab import hashing as lab


def run_lab(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["lab", "hashing", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_json_rows_cover_the_selected_schemes(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_lab(capsys, "--keys", "2000", "--schemes", "modulo,ring,jump",
                             "--format", "json")
    assert status == 0
    report = json.loads(out)
    assert report["name"] == "hashing"
    rows = report["rows"]
    assert [r["scheme"] for r in rows] == [
        "modulo", "ring, 1 vnode", "ring, 10 vnodes", "ring, 100 vnodes", "ring, 160 vnodes",
        "ring, 1000 vnodes", "jump", "jump, last node leaves"]
    assert all(set(r) == set(lab.COLUMNS) for r in rows)
    by_name = {r["scheme"]: r for r in rows}
    assert by_name["modulo"]["moved_add_pct"] > 80
    assert by_name["ring, 160 vnodes"]["moved_add_pct"] < 15
    assert by_name["ring, 160 vnodes"]["ideal_add_pct"] == pytest.approx(100 / 11)
    assert by_name["jump, last node leaves"]["moved_remove_pct"] < \
        by_name["jump"]["moved_remove_pct"]
    assert math.isnan(by_name["jump"]["share_max_mean_100_ratio"])


def test_maglev_row_reports_near_perfect_shares() -> None:
    [row] = lab.measure("maglev", lambda nodes: MaglevHash(nodes, table_size=10007),
                        lab.make_keys(1000, 1))
    assert row["share_max_mean_100_ratio"] <= 1.02


def test_keys_are_seeded() -> None:
    assert lab.make_keys(50, 3) == lab.make_keys(50, 3)
    assert lab.make_keys(50, 3) != lab.make_keys(50, 4)


def test_table_and_csv_formats(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_lab(capsys, "--keys", "1000", "--schemes", "modulo")
    assert status == 0
    assert "moved_add_pct" in out
    status, out, _ = run_lab(capsys, "--keys", "1000", "--schemes", "modulo", "--format", "csv")
    assert out.splitlines()[0] == ",".join(lab.COLUMNS)
    assert len(out.splitlines()) == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--keys", "10"], "--keys 10: must be between"),
    (["--schemes", "ring,cuckoo"], "--schemes 'ring,cuckoo': choose from"),
    (["--schemes", ","], "choose from"),
    (["--keys", "1000", "--schemes", "modulo", "--plot", "out.svg"], "ending in .png"),
])
def test_bad_flags_are_one_line_errors(capsys: pytest.CaptureFixture[str], args: list[str],
                                       message: str) -> None:
    status, _, err = run_lab(capsys, *args)
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_plot_writes_a_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "hashing.png"
    status, _, _ = run_lab(capsys, "--keys", "1000", "--schemes", "modulo,jump",
                           "--plot", str(target))
    assert status == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
