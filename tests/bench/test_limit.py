"""``hld bench limit``: a tiny run has the right shape; bad input is one line."""

from __future__ import annotations

import json

import pytest

from hld.bench.limit import COLUMNS, KEYED, PEER_PAIRS, TARGET_RATIO
from hld.cli import main
from hld.core.limit import ALGORITHMS


def _rows(capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, object]]:
    assert main(["bench", "limit", "--calls", "30", "--rounds", "1", "--format", "json",
                 *extra]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["name"] == "limit"
    rows: list[dict[str, object]] = document["rows"]
    return rows


def test_every_limiter_is_compared_with_limits_fixed_window(
        capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows(capsys)
    expected = (len(ALGORITHMS) + len(KEYED) + len(PEER_PAIRS))
    assert len(rows) == expected
    assert [r["ours"] for r in rows[:len(ALGORITHMS)]] == list(ALGORITHMS)
    for row in rows:
        assert list(row) == COLUMNS
        assert row["target_ratio"] == TARGET_RATIO
        ours_ns, peer_ns = row["ours_ns"], row["peer_ns"]
        assert isinstance(ours_ns, float)
        assert isinstance(peer_ns, float)
        assert ours_ns > 0
        assert peer_ns > 0
        assert row["ratio"] == pytest.approx(ours_ns / peer_ns)
        versus_anchor = row["ratio_vs_limits_fixed"]
        assert isinstance(versus_anchor, float)
        assert row["meets_target"] == (versus_anchor <= TARGET_RATIO)


@pytest.mark.redis
def test_redis_rows_appear_with_a_reachable_server(redis_server: int,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows(capsys, "--redis-url", f"redis://127.0.0.1:{redis_server}/0")
    redis_rows = [r for r in rows if str(r["ours"]).startswith("redis ")]
    assert [r["ours"] for r in redis_rows] == [
        "redis gcra", "redis token_bucket", "redis fixed_window", "redis sliding_log"]
    assert all(str(r["peer"]).startswith("limits redis") for r in redis_rows)


@pytest.mark.parametrize(("args", "message"), [
    (["--calls", "0"], "--calls"),
    (["--rounds", "0"], "--rounds"),
    (["--redis-url", "localhost:6379"], "--redis-url"),
    (["--redis-url", "redis://127.0.0.1:1/0"], "cannot reach Redis"),
])
def test_bad_input_is_one_line_error(args: list[str], message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "limit", "--calls", "10", "--rounds", "1", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert err.count("\n") == 1
