"""``hld lab cache`` and its traces: small runs print the promised rows; bad input is one
line on stderr with exit status 2, never a traceback."""

from __future__ import annotations

import csv
import io
import json
import lzma
import random
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

from hld.cli import main
from hld.lab import cache as lab
from hld.lab import traces


def run_lab(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["lab", "cache", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def json_rows(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    status, out, err = run_lab(capsys, *args, "--format", "json")
    assert (status, err) == (0, "")
    report = json.loads(out)
    assert report["name"] == "cache"
    rows: list[dict[str, Any]] = report["rows"]
    return rows


def write_cache2k(path: Path, keys: list[int], *, compress: bool = True) -> Path:
    raw = struct.pack(f">{len(keys)}i", *keys)
    path.write_bytes(lzma.compress(raw) if compress else raw)
    return path


# -- output shape -------------------------------------------------------------------------


def test_json_rows_cover_every_policy_and_size(capsys: pytest.CaptureFixture[str]) -> None:
    rows = json_rows(capsys, "--workload", "zipf", "--requests", "2000", "--sizes", "50,200",
                     "--policies", "lru,wtinylfu,opt")
    assert [(r["policy"], r["size"]) for r in rows] == [
        ("lru", 50), ("lru", 200), ("wtinylfu", 50), ("wtinylfu", 200), ("opt", 50),
        ("opt", 200)]
    for row in rows:
        assert set(row) == set(lab.COLUMNS)
        assert row["workload"] == "zipf"
        assert row["requests"] == 2000
        assert row["hit_ratio_pct"] == round(100 * row["hits"] / 2000, 2)
    opt = {r["size"]: r["hits"] for r in rows if r["policy"] == "opt"}
    assert all(r["hits"] <= opt[r["size"]] for r in rows)


def test_default_policies_are_all_registered_ones(capsys: pytest.CaptureFixture[str]) -> None:
    rows = json_rows(capsys, "--workload", "loop", "--requests", "500", "--sizes", "10")
    from hld.core.cache import POLICIES

    assert [r["policy"] for r in rows] == list(POLICIES)


def test_csv_has_a_header_and_one_line_per_row(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_lab(capsys, "--workload", "zipf,loop", "--requests", "1000",
                             "--sizes", "20", "--policies", "lru,fifo", "--format", "csv")
    assert status == 0
    lines = list(csv.DictReader(io.StringIO(out)))
    assert len(lines) == 4
    assert list(lines[0]) == list(lab.COLUMNS)


def test_table_puts_policies_side_by_side(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_lab(capsys, "--workload", "zipf-scans", "--requests", "1000",
                             "--sizes", "20", "--policies", "lru,sieve,opt")
    assert status == 0
    assert "best_online" in out
    assert "upper bound" in out


def test_plot_writes_a_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "hit.png"
    status, _, _ = run_lab(capsys, "--workload", "zipf", "--requests", "500", "--sizes",
                           "10,50", "--policies", "lru,opt", "--plot", str(target))
    assert status == 0
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- trace files --------------------------------------------------------------------------


def test_a_cache2k_trace_is_replayed(capsys: pytest.CaptureFixture[str],
                                     tmp_path: Path) -> None:
    path = write_cache2k(tmp_path / "tiny.trace.xz", [1, 2, 1, 3, 1, 2] * 10)
    rows = json_rows(capsys, "--trace", str(path), "--sizes", "2", "--policies", "lru")
    assert rows[0]["workload"] == "tiny"
    assert rows[0]["requests"] == 60


def test_raw_and_compressed_cache2k_read_the_same(tmp_path: Path) -> None:
    keys = [5, -7, 2**31 - 1, -(2**31), 0]
    packed = write_cache2k(tmp_path / "a.xz", keys)
    raw = write_cache2k(tmp_path / "a.raw", keys, compress=False)
    assert traces.read_cache2k(packed) == traces.read_cache2k(raw) == keys
    assert traces.read_trace(packed) == keys       # auto: xz means cache2k
    assert traces.read_cache2k(packed, limit=2) == keys[:2]


def test_lirs_and_text_traces(tmp_path: Path) -> None:
    lirs = tmp_path / "t.trc"
    lirs.write_text("1\n2\n\n*\n  1 \n3\n")
    assert traces.read_lirs(lirs) == [1, 2, 1, 3]
    text = tmp_path / "t.txt"
    text.write_text("/home\n/about\n\n/home\nGET /x y\n")
    assert traces.read_text(text) == [0, 1, 0, 2]
    assert traces.read_trace(text) == [0, 1, 0, 2]  # auto: not xz means text


def test_lru_on_a_real_trace_matches_a_straightforward_replay(
        capsys: pytest.CaptureFixture[str], traces_dir: Path) -> None:
    path = traces_dir / "cache2k_web07.trace.xz"
    rows = json_rows(capsys, "--trace", str(path), "--policies", "lru", "--sizes", "300")
    recency: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for key in traces.read_cache2k(path):
        if key in recency:
            hits += 1
            recency.move_to_end(key)
        else:
            recency[key] = None
            if len(recency) > 300:
                recency.popitem(last=False)
    assert rows[0]["hits"] == hits
    assert rows[0]["hit_ratio_pct"] == 41.90  # as published for this trace


def test_wtinylfu_beats_lru_on_web07_at_300(capsys: pytest.CaptureFixture[str],
                                            traces_dir: Path) -> None:
    rows = json_rows(capsys, "--trace", str(traces_dir / "cache2k_web07.trace.xz"),
                     "--policies", "lru,wtinylfu", "--sizes", "300")
    ratio = {r["policy"]: r["hit_ratio_pct"] for r in rows}
    assert ratio["wtinylfu"] > ratio["lru"] + 2


# -- synthetic workloads ------------------------------------------------------------------


def test_workloads_are_reproducible_by_seed() -> None:
    for name in traces.WORKLOADS:
        first = traces.workload(name, 3_000, seed=9)
        assert first == traces.workload(name, 3_000, seed=9)
        assert len(first) == 3_000


def test_zipf_favours_low_ranks() -> None:
    trace = traces.zipf(20_000, 1_000, random.Random(1))
    share_top_10 = sum(1 for key in trace if key < 10) / len(trace)
    assert 0.35 < share_top_10 < 0.45   # H(10) / H(1000) is about 0.39


def test_scans_use_keys_never_seen_again() -> None:
    trace = traces.zipf_with_scans(10_000, 1_000, random.Random(1), scan_length=500)
    scan_keys = [key for key in trace if key >= 1_000]
    assert len(scan_keys) == len(set(scan_keys)) == 2_500


def test_loop_and_shifting_shapes() -> None:
    assert traces.loop(7, 3) == [0, 1, 2, 0, 1, 2, 0]
    trace = traces.shifting_zipf(8_000, 100, random.Random(2), phases=4)
    first, last = trace[:2_000], trace[-2_000:]
    assert max(set(first), key=first.count) != max(set(last), key=last.count)


# -- bad input ----------------------------------------------------------------------------


def one_line_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    status, out, err = run_lab(capsys, *args)
    assert status == 2
    assert out == ""
    assert "Traceback" not in err
    assert err.count("\n") == 1
    return err


def test_missing_trace_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = one_line_error(capsys, "--trace", str(tmp_path / "nope.xz"))
    assert "does not exist" in err


def test_empty_trace_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty.trace"
    empty.write_bytes(b"")
    assert "empty" in one_line_error(capsys, "--trace", str(empty), "--trace-format",
                                     "cache2k")
    assert "no requests" in one_line_error(capsys, "--trace", str(empty))
    assert "no requests" in one_line_error(capsys, "--trace", str(empty), "--trace-format",
                                           "lirs")


def test_truncated_cache2k_trace(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    raw = tmp_path / "cut.trace"
    raw.write_bytes(struct.pack(">3i", 1, 2, 3)[:-1])
    assert "truncated" in one_line_error(capsys, "--trace", str(raw), "--trace-format",
                                         "cache2k")
    packed = tmp_path / "cut.trace.xz"
    packed.write_bytes(lzma.compress(struct.pack(">1000i", *range(1000)))[:-40])
    assert "xz" in one_line_error(capsys, "--trace", str(packed))


def test_corrupt_xz_trace(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = bytearray(lzma.compress(struct.pack(">1000i", *range(1000))))
    data[40:60] = bytes(20)
    bad = tmp_path / "bad.trace.xz"
    bad.write_bytes(bytes(data))
    assert "xz" in one_line_error(capsys, "--trace", str(bad))


def test_malformed_lirs_trace(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.trc"
    bad.write_text("1\n2\nthree\n")
    err = one_line_error(capsys, "--trace", str(bad), "--trace-format", "lirs")
    assert "line 3" in err


def test_binary_file_as_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bin.trace"
    bad.write_bytes(b"\xff\xfe\x00\x01" * 10)
    assert "UTF-8" in one_line_error(capsys, "--trace", str(bad), "--trace-format", "text")


def test_unknown_policy_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    err = one_line_error(capsys, "--policies", "lru,arc")
    assert "'arc'" in err
    assert "wtinylfu" in err


@pytest.mark.parametrize("sizes", ["0", "-5", "ten", "100,0"])
def test_bad_sizes(capsys: pytest.CaptureFixture[str], sizes: str) -> None:
    assert "--sizes" in one_line_error(capsys, "--sizes", sizes)


def test_bad_plot_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert ".png" in one_line_error(capsys, "--plot", "hits.pdf")


def test_plot_into_a_missing_folder(capsys: pytest.CaptureFixture[str],
                                    tmp_path: Path) -> None:
    status, _, err = run_lab(capsys, "--workload", "loop", "--requests", "100", "--sizes",
                             "5", "--policies", "lru", "--plot",
                             str(tmp_path / "no" / "such" / "dir.png"), "--format", "json")
    assert status == 2
    assert "Traceback" not in err
    assert "does not exist" in err


def test_unknown_workload_and_bad_requests(capsys: pytest.CaptureFixture[str]) -> None:
    assert "zipf" in one_line_error(capsys, "--workload", "nope")
    assert "--requests" in one_line_error(capsys, "--requests", "0")
    assert "--requests" in one_line_error(capsys, "--requests", "10000000000")


def test_trace_and_workload_together(capsys: pytest.CaptureFixture[str],
                                     tmp_path: Path) -> None:
    path = write_cache2k(tmp_path / "t.xz", [1, 2, 3])
    assert "either" in one_line_error(capsys, "--trace", str(path), "--workload", "zipf")
