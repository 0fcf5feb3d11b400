"""Imports flow downward only; ``hld.core`` is pure (no I/O, clock or randomness)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hld"

# Modules a sans-IO core must never import: they bring I/O, clocks, randomness or threads.
FORBIDDEN_IN_CORE = {
    "asyncio", "socket", "time", "random", "threading", "selectors", "subprocess",
    "multiprocessing", "ssl", "signal", "os", "io", "pathlib", "shutil", "tempfile",
    "urllib", "http", "logging", "secrets", "datetime", "concurrent",
}

# Layer of each top-level hld package; a module may import its own layer or lower ones.
LAYERS = {
    "core": 0, "runtime": 1, "store": 2, "gateway": 2, "app": 3, "control": 4,
    "lab": 5, "bench": 5, "demo": 6, "cli": 6,
}


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((name, node.lineno))
    return found


def _modules(sub: str = "") -> list[Path]:
    return sorted((SRC / sub).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("core"), ids=lambda p: str(p.relative_to(SRC)))
def test_core_modules_are_sans_io(path: Path) -> None:
    """Nothing under hld.core imports asyncio, socket, time, random, threading, ..."""
    bad = [
        f"{path.relative_to(SRC)}:{line} imports {name}"
        for name, line in _imports(path)
        if name.split(".")[0] in FORBIDDEN_IN_CORE
        or (name.startswith("hld.") and not name.startswith("hld.core") )
        or name == "hld"
    ]
    assert bad == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_downward(path: Path) -> None:
    rel = path.relative_to(SRC).with_suffix("").parts
    own = rel[0] if rel[0] in LAYERS else None
    if own is None:
        return
    bad = []
    for name, line in _imports(path):
        parts = name.split(".")
        if parts[0] != "hld" or len(parts) < 2 or parts[1] not in LAYERS:
            continue
        if LAYERS[parts[1]] > LAYERS[own]:
            bad.append(f"{path.relative_to(SRC)}:{line} (layer {own}) imports {name}")
    assert bad == []


def test_the_checker_sees_forbidden_imports(tmp_path: Path) -> None:
    """The rule above can fail: a module importing time is reported."""
    sample = SRC / "core" / "_layers_probe.py"
    sample.write_text("import time\nfrom hld.store import x\n")
    try:
        names = [n for n, _ in _imports(sample)]
    finally:
        sample.unlink()
    assert names == ["time", "hld.store"]
