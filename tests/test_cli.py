"""The ``hld`` command: help lists the components; mistakes give one line, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hld.cli import main


def run_hld(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hld.cli", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_help_lists_lab_and_bench() -> None:
    result = run_hld("--help")
    assert result.returncode == 0
    assert "lab" in result.stdout
    assert "bench" in result.stdout


def test_lab_help_lists_experiments() -> None:
    result = run_hld("lab", "--help")
    assert result.returncode == 0
    assert "EXPERIMENT" in result.stdout


def test_unknown_command_is_one_line_error() -> None:
    result = run_hld("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid choice" in result.stderr


def test_main_returns_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert "hld" in capsys.readouterr().out


def test_argparse_mistakes_are_one_line_with_a_pointer_to_help() -> None:
    result = run_hld("lab", "jitter", "--runs", "lots")
    assert result.returncode == 2
    assert result.stderr == ("hld lab jitter: error: argument --runs: invalid int value: "
                             "'lots' (see hld lab jitter --help)\n")
