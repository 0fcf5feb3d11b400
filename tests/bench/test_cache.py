"""``hld bench cache``: a quick run prints ours and the peer side by side with ratios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hld.bench import cache as bench
from hld.bench._timing import interleaved, measure, ratio
from hld.cli import main
from hld.lab.cache import KNOWN_TRACE_SIZES


def run_bench(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["bench", "cache", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_quick_json_pairs_every_policy_with_its_peer(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_bench(capsys, "--quick", "--no-traces", "--format", "json")
    assert status == 0
    report = json.loads(out)
    assert report["name"] == "cache"
    rows: list[dict[str, Any]] = report["rows"]
    assert [(r["ours"], r["peer"]) for r in rows] == [
        (f"hld {ours}", peer) for ours, peer, _ in bench.PAIRS]
    for row in rows:
        assert row["kind"] == "cost"
        assert row["ours_ns_per_op"] > 0
        assert row["peer_ns_per_op"] > 0
        assert row["ratio"] == pytest.approx(row["ours_ns_per_op"] / row["peer_ns_per_op"],
                                             rel=0.01)
    by_peer = {r["peer"]: r for r in rows}
    assert by_peer["theine"]["target"] == "< 1.0"
    assert isinstance(by_peer["theine"]["target_met"], bool)
    assert by_peer["functools.lru_cache"]["target_met"] is None


def test_hit_ratio_rows_on_real_traces(capsys: pytest.CaptureFixture[str],
                                       traces_dir: Path) -> None:
    status, out, _ = run_bench(capsys, "--quick", "--traces", str(traces_dir), "--requests",
                               "3000", "--format", "json")
    assert status == 0
    rows = [r for r in json.loads(out)["rows"] if r["kind"] == "hit_ratio"]
    assert [(r["trace"], r["size"]) for r in rows] == [
        (name, size) for name, sizes in KNOWN_TRACE_SIZES.items() for size in sizes]
    for row in rows:
        assert row["requests"] == 3000
        assert 0 <= row["ours_hit_ratio_pct"] <= 100
        assert row["target_met"] == (row["ours_hit_ratio_pct"] >= row["peer_hit_ratio_pct"])


def test_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_bench(capsys, "--quick", "--no-traces")
    assert status == 0
    assert "cachetools.LRUCache" in out
    assert "target_met" in out


def test_bad_traces_folder_is_one_line(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    status, out, err = run_bench(capsys, "--quick", "--traces", str(tmp_path / "none"))
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "--traces" in err


def test_timing_helpers_interleave_and_summarise() -> None:
    calls: list[str] = []
    timings = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                          ops=1, rounds=3)
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up, then alternating
    assert set(timings) == {"a", "b"}
    assert timings["a"].rounds == 3
    assert timings["a"].ns_per_op_min <= timings["a"].ns_per_op_median
    assert measure(lambda: sum(range(100)), ops=100, rounds=2).rounds == 2
    assert ratio(1.0, 4.0) == 0.25
    with pytest.raises(ValueError, match="rounds"):
        interleaved({"a": lambda: None}, ops=1, rounds=0)
