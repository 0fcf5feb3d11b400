"""``--plot`` paths: refused before the run when they cannot be written, one line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from hld.runtime.commands import CLIError
from hld.runtime.report import check_plot_path, save_plot


def test_a_png_in_an_existing_writable_folder_is_accepted(tmp_path: Path) -> None:
    check_plot_path(str(tmp_path / "out.png"))
    check_plot_path(None)


@pytest.mark.parametrize(("relative", "message"), [
    ("out.txt", "ending in .png"),
    ("missing/out.png", "does not exist"),
    ("a-file/out.png", "does not exist"),
    ("a-folder.png", "cannot write there"),
])
def test_unwritable_plot_paths_are_refused_with_the_reason(tmp_path: Path, relative: str,
                                                           message: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-folder.png").mkdir()
    with pytest.raises(CLIError, match=message):
        check_plot_path(str(tmp_path / relative))


class FailingFigure:
    def savefig(self, path: str, dpi: int) -> None:
        raise PermissionError(13, "Permission denied", path)


def test_a_failed_write_is_a_cli_error_not_a_traceback() -> None:
    with pytest.raises(CLIError, match="cannot write it \\(Permission denied\\)"):
        save_plot(FailingFigure(), "/somewhere/out.png")
