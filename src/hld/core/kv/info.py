"""INFO sections as a registry: name -> function(engine) -> [(field, value), ...].

Sections print in registration order. ``INFO`` and ``INFO default`` print the sections
registered with ``default=True``; ``INFO all``/``everything`` print all; ``INFO a b``
prints the named ones. The store registers server/clients/memory/stats/keyspace; the
durability side replaces the ``persistence`` and ``replication`` placeholders by calling
``register_section`` again with ``replace=True``. A function may read ``engine.server``
(the shell) for process-level figures; it must not block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Fields = list[tuple[str, Any]]
SectionFn = Callable[[Any], Fields]


@dataclass(slots=True)
class Section:
    name: str
    fn: SectionFn
    default: bool


SECTIONS: dict[str, Section] = {}


def register_section(name: str, fn: SectionFn, *, default: bool = True,
                     replace: bool = False) -> None:
    key = name.lower()
    if key in SECTIONS and not replace:
        raise ValueError(f"INFO section {name!r} is registered twice")
    SECTIONS[key] = Section(key, fn, default)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def render(engine: Any, names: list[str]) -> bytes:
    """The INFO text for the requested section names (lower-case)."""
    wanted = [n.lower() for n in names] or ["default"]
    chosen = [section for section in SECTIONS.values()
              if "all" in wanted or "everything" in wanted or section.name in wanted
              or ("default" in wanted and section.default)]
    blocks = []
    for section in chosen:
        lines = [f"# {section.name.capitalize()}"]
        lines.extend(f"{k}:{_format(v)}" for k, v in section.fn(engine))
        blocks.append("\r\n".join(lines))
    return ("\r\n\r\n".join(blocks) + "\r\n").encode() if blocks else b""


def fields(engine: Any, name: str) -> dict[str, Any]:
    """One section as a dict (for the metrics port and tests)."""
    section = SECTIONS.get(name.lower())
    return dict(section.fn(engine)) if section is not None else {}
