"""Cache access traces: readers for real trace files and seeded synthetic workloads.

A trace is a sequence of keys, one per request, in request order. Readers return plain
lists of ints, the cheapest keys to hash and compare, so replays measure the policies and
not the keys:

- ``cache2k``: big-endian signed 32-bit integers, one per request, usually xz-compressed
  (the format of the cache2k traces in ``../shared/traces/``). Compressed or raw input is
  recognised by the xz magic bytes, not by the file name.
- ``lirs``: text, one integer block number per line, as in the LIRS paper's traces; blank
  lines and ``*`` separator lines carry no request and are skipped.
- ``text``: one key per line, any string; blank lines are skipped. Each distinct string
  becomes a small int (numbered by first appearance), which keeps hit ratios exact while
  making replays deterministic (``str`` hashes are salted per process).

Every reader stops after ``limit`` requests when given one, and a file that is missing,
empty, malformed or truncated raises ``TraceError``: one line naming the file, what is
wrong and what to do.

Synthetic workloads draw from a caller-seeded ``random.Random``, so a seed names a trace.
Zipf draws use ``rng.choices`` over a precomputed cumulative distribution (a bisect per
request, no numpy), so a million requests take about a second.
"""

from __future__ import annotations

import itertools
import lzma
import random
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hld.runtime.commands import CLIError

FORMATS = ("cache2k", "lirs", "text")

# Limits, with their reasons.
TRACE_REQUESTS_MAX = 50_000_000   # ~200 MB of keys in memory; cut longer traces with a limit
TEXT_KEY_CHARS_MAX = 4_096        # a longer "key" means the file is not one key per line
XZ_MAGIC = b"\xfd7zXZ\x00"
INT32_BYTES = 4


class TraceError(CLIError, ValueError):
    """A trace file that cannot be replayed; the message says which and what to fix."""


# -- readers ------------------------------------------------------------------------------


def read_trace(path: str | Path, fmt: str = "auto", *, limit: int | None = None) -> list[int]:
    """Read the trace at ``path`` in ``fmt`` (``auto``: xz-compressed means cache2k, else
    text), keeping at most ``limit`` requests."""
    file = Path(path)
    if fmt == "auto":
        fmt = "cache2k" if _starts_with(file, XZ_MAGIC) else "text"
    if fmt == "cache2k":
        return read_cache2k(file, limit=limit)
    if fmt == "lirs":
        return read_lirs(file, limit=limit)
    if fmt == "text":
        return read_text(file, limit=limit)
    raise TraceError(f"unknown trace format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _check_limit(limit: int | None) -> int:
    if limit is None:
        return TRACE_REQUESTS_MAX
    if limit < 1:
        raise TraceError(f"a request limit of {limit} leaves nothing to replay; give 1 or more")
    return min(limit, TRACE_REQUESTS_MAX)


def _open_checked(file: Path) -> None:
    if not file.exists():
        raise TraceError(f"trace file {str(file)!r} does not exist; check the path")
    if not file.is_file():
        raise TraceError(f"trace {str(file)!r} is not a regular file; give a trace file")


def _starts_with(file: Path, magic: bytes) -> bool:
    try:
        with file.open("rb") as stream:
            return stream.read(len(magic)) == magic
    except OSError:
        return False  # the reader reports the real problem


def read_cache2k(path: str | Path, *, limit: int | None = None) -> list[int]:
    """Big-endian int32 keys, xz-compressed or raw."""
    file = Path(path)
    _open_checked(file)
    requests_max = _check_limit(limit)
    bytes_max = requests_max * INT32_BYTES
    try:
        with file.open("rb") as stream:
            compressed = stream.read(len(XZ_MAGIC)) == XZ_MAGIC
            stream.seek(0)
            raw = _read_xz(file, stream.read(), bytes_max) if compressed else stream.read(
                bytes_max)
    except OSError as exc:
        raise TraceError(f"cannot read trace {str(file)!r}: {exc.strerror or exc}") from None
    if not raw:
        raise TraceError(f"trace {str(file)!r} is empty; a cache2k trace holds big-endian "
                         f"32-bit keys")
    whole = len(raw) - len(raw) % INT32_BYTES
    if whole != len(raw) and len(raw) < bytes_max:
        raise TraceError(f"trace {str(file)!r} is truncated: {len(raw)} bytes is not a "
                         f"multiple of 4 (cache2k keys are 32-bit); re-fetch or re-export it")
    keys = array("i")
    keys.frombytes(raw[:whole])
    if sys.byteorder == "little":
        keys.byteswap()
    return keys.tolist()


def _read_xz(file: Path, data: bytes, bytes_max: int) -> bytes:
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        raw = decompressor.decompress(data, max_length=bytes_max)
    except lzma.LZMAError as exc:
        raise TraceError(f"trace {str(file)!r} is not valid xz data ({exc}); re-fetch the "
                         f"file or give it decompressed") from None
    if len(raw) < bytes_max and not decompressor.eof:
        raise TraceError(f"trace {str(file)!r} is a truncated xz stream; re-fetch the file")
    return raw


def _text_lines(file: Path, what: str) -> list[str]:
    _open_checked(file)
    try:
        with file.open(encoding="utf-8", newline=None) as stream:
            return stream.read().splitlines()
    except UnicodeDecodeError as exc:
        raise TraceError(f"trace {str(file)!r} is not UTF-8 text (byte {exc.start}); a {what} "
                         f"trace has one key per line (binary cache2k? use "
                         f"--trace-format cache2k)") from None
    except OSError as exc:
        raise TraceError(f"cannot read trace {str(file)!r}: {exc.strerror or exc}") from None


def read_lirs(path: str | Path, *, limit: int | None = None) -> list[int]:
    """One integer block number per line; blank and ``*`` lines skipped."""
    file = Path(path)
    lines = _text_lines(file, "lirs")
    requests_max = _check_limit(limit)
    keys: list[int] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text == "*":
            continue
        try:
            keys.append(int(text))
        except ValueError:
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise TraceError(f"trace {str(file)!r} line {number}: {shown!r} is not an integer; "
                             f"a lirs trace has one block number per line (use "
                             f"--trace-format text for other keys)") from None
        if len(keys) >= requests_max:
            break
    if not keys:
        raise TraceError(f"trace {str(file)!r} holds no requests; a lirs trace has one block "
                         f"number per line")
    return keys


def read_text(path: str | Path, *, limit: int | None = None) -> list[int]:
    """One key per line, any string; keys become ints numbered by first appearance."""
    file = Path(path)
    lines = _text_lines(file, "text")
    requests_max = _check_limit(limit)
    ids: dict[str, int] = {}
    keys: list[int] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(line) > TEXT_KEY_CHARS_MAX:
            raise TraceError(f"trace {str(file)!r} line {number} is {len(line)} characters; "
                             f"a text trace has one key (at most {TEXT_KEY_CHARS_MAX} "
                             f"characters) per line")
        key = ids.get(line)
        if key is None:
            key = ids[line] = len(ids)
        keys.append(key)
        if len(keys) >= requests_max:
            break
    if not keys:
        raise TraceError(f"trace {str(file)!r} holds no requests; a text trace has one key "
                         f"per line")
    return keys


# -- synthetic workloads ------------------------------------------------------------------


def zipf_cdf(keys: int, s: float = 1.0) -> list[float]:
    """Cumulative Zipf weights over ranks 0..keys-1 (rank r weighs 1 / (r + 1) ** s)."""
    return list(itertools.accumulate(1.0 / (rank + 1) ** s for rank in range(keys)))


def zipf(requests: int, keys: int, rng: random.Random, *, s: float = 1.0) -> list[int]:
    """``requests`` draws of Zipf(``s``) over ``keys`` keys; key 0 is the most popular."""
    return rng.choices(range(keys), cum_weights=zipf_cdf(keys, s), k=requests)


def zipf_with_scans(requests: int, keys: int, rng: random.Random, *, s: float = 1.0,
                    scan_share: float = 0.25, scan_length: int = 2_000) -> list[int]:
    """Zipf traffic polluted by one-off sequential scans of keys never seen again.

    ``scan_share`` of the requests belong to scans of ``scan_length`` fresh keys each,
    spread evenly through the trace: the pattern that flushes an LRU's hot set.
    """
    scans = max(1, round(requests * scan_share / scan_length))
    hot = zipf(requests - scans * scan_length, keys, rng, s=s)
    gap = len(hot) // (scans + 1)
    trace: list[int] = []
    fresh = keys  # scan keys start past the Zipf key space, so they never repeat
    for scan in range(scans):
        trace.extend(hot[scan * gap:(scan + 1) * gap])
        trace.extend(range(fresh, fresh + scan_length))
        fresh += scan_length
    trace.extend(hot[scans * gap:])
    return trace


def loop(requests: int, length: int) -> list[int]:
    """The keys 0..length-1 over and over: LRU's worst case when ``length`` > capacity."""
    cycle = list(range(length))
    repeats, rest = divmod(requests, length)
    return cycle * repeats + cycle[:rest]


def shifting_zipf(requests: int, keys: int, rng: random.Random, *, s: float = 1.0,
                  phases: int = 4) -> list[int]:
    """Zipf traffic whose popular keys change ``phases`` times: old favourites go cold.

    Each phase draws ranks from the same Zipf law, but a rank maps to a different key
    (the ranking rotates by ``keys // phases``), so yesterday's hot set is cold today.
    """
    cdf = zipf_cdf(keys, s)
    shift = max(1, keys // phases)
    trace: list[int] = []
    for phase in range(phases):
        count = requests // phases + (1 if phase < requests % phases else 0)
        offset = phase * shift
        trace.extend((rank + offset) % keys
                     for rank in rng.choices(range(keys), cum_weights=cdf, k=count))
    return trace


@dataclass(frozen=True, slots=True)
class Workload:
    """A built-in synthetic workload: how to make it and the cache sizes worth replaying."""

    name: str
    description: str
    make: Callable[[int, random.Random], list[int]]
    sizes: tuple[int, ...]


WORKLOAD_KEYS = 10_000            # key space of the built-in Zipf workloads
LOOP_LENGTH = 1_000               # longer than the small sizes, shorter than the large one
WORKLOAD_SIZES = (100, 500, 2_000)

WORKLOADS: dict[str, Workload] = {
    w.name: w for w in (
        Workload("zipf", f"Zipf s=1 over {WORKLOAD_KEYS:,} keys",
                 lambda n, rng: zipf(n, WORKLOAD_KEYS, rng), WORKLOAD_SIZES),
        Workload("zipf-scans", "Zipf s=1 with 25% of requests in one-off scans of 2,000 keys",
                 lambda n, rng: zipf_with_scans(n, WORKLOAD_KEYS, rng), WORKLOAD_SIZES),
        Workload("loop", f"a loop over {LOOP_LENGTH:,} keys",
                 lambda n, _rng: loop(n, LOOP_LENGTH), WORKLOAD_SIZES),
        Workload("shifting", "Zipf s=1 whose popular keys change 4 times",
                 lambda n, rng: shifting_zipf(n, WORKLOAD_KEYS, rng), WORKLOAD_SIZES),
    )
}


def workload(name: str, requests: int, seed: int) -> list[int]:
    """The built-in workload ``name`` with ``requests`` requests drawn with ``seed``."""
    try:
        spec = WORKLOADS[name]
    except KeyError:
        raise TraceError(f"unknown workload {name!r}; built-in workloads: "
                         f"{', '.join(WORKLOADS)}") from None
    return spec.make(requests, random.Random(seed))
