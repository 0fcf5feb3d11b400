"""Printing lab and bench results: a table by default, or JSON / CSV rows.

Rows are flat dicts with snake_case keys whose unit is a suffix (``_ns``, ``_ms``,
``_pct``, ``_ratio`` ...). JSON output is one object ``{"name": ..., "rows": [...]}``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from hld.runtime.commands import CLIError

FORMATS = ("table", "json", "csv")

Row = Mapping[str, Any]


def add_format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="output format (default: table)")


def add_plot_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plot", metavar="FILE.png", default=None,
                        help="also draw the result to a PNG file")


def check_plot_path(path: str | None) -> None:
    """Refuse a --plot path before the run, not after minutes of work (one-line errors)."""
    if path is None:
        return
    if not path.lower().endswith(".png"):
        raise CLIError(f"--plot {path!r}: the plot is written as PNG; name a file ending in .png")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"--plot {path!r}: the folder {folder!r} does not exist; create it first")
    if os.path.isdir(path) or not os.access(folder, os.W_OK):
        raise CLIError(f"--plot {path!r}: cannot write there; choose a writable file path")


def save_plot(figure: Any, path: str) -> None:
    """``figure.savefig(path)``; a write that fails anyway is a one-line CLIError."""
    try:
        figure.savefig(path, dpi=110)
    except OSError as exc:
        raise CLIError(f"--plot {path!r}: cannot write it ({exc.strerror or exc}); "
                       "choose a writable file path") from None


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.1f}"
        return f"{value:.2f}" if magnitude >= 1 or value == 0 else f"{value:.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def emit(name: str, rows: Sequence[Row], fmt: str = "table", *, title: str | None = None,
         columns: Iterable[str] | None = None, out: TextIO | None = None) -> None:
    """Print ``rows`` in ``fmt``. ``columns`` fixes the order (default: first row's keys)."""
    stream = out if out is not None else sys.stdout
    cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    if fmt == "json":
        json.dump({"name": name, "rows": [dict(r) for r in rows]}, stream)
        stream.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(stream, fieldnames=cols, extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(dict(row))
    elif fmt == "table":
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title or name, title_justify="left")
        for col in cols:
            numeric = bool(rows) and isinstance(rows[0].get(col), int | float)
            table.add_column(col, justify="right" if numeric else "left")
        for row in rows:
            table.add_row(*(_cell(row.get(col, "")) for col in cols))
        # Wide enough for the longest cell of each column, so values are never cut.
        widths = [max([len(col)] + [len(_cell(row.get(col, ""))) for row in rows])
                  for col in cols]
        Console(file=stream, width=max(100, sum(w + 3 for w in widths) + 1)).print(table)
    else:
        raise CLIError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
