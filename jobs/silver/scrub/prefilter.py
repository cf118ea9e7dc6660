"""Which detectors may match which texts, for a whole column at once.

Python's `re` scans a character class at tens of MB/s but finds a literal at GB/s. So the texts
are joined into one byte string and four views of it are made with `bytes.translate`/`lower`
(raw, lower-cased, every digit as `0`, every hex digit as `0`); each detector's anchors are
literal-led regexes over one view, so that every one of them runs at literal-search speed. A text
in which no anchor occurs is clean and is never looked at again; the rest go to the detectors
whose anchors occur in them.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from itertools import accumulate

import numpy as np
import pyarrow as pa

from .detectors import DETECTORS

_DIGITS = bytes.maketrans(b"0123456789", b"0" * 10)
_HEX = bytes.maketrans(b"0123456789abcdefABCDEF", b"0" * 22)
_META = frozenset(b"\\[](){}?*+|.^$")


def _literal_prefix(pattern: bytes) -> bytes:
    """The literal bytes every match of `pattern` starts with (may be empty)."""
    prefix = bytearray()
    for i, byte in enumerate(pattern):
        if byte in _META:
            # A quantifier applies to the byte before it, which is then not certain.
            return bytes(prefix[:-1] if byte in b"?*{" and prefix else prefix)
        prefix.append(byte)
        if i + 1 == len(pattern):
            break
    return bytes(prefix)


# (detector index, view, literal prefix, anchor regex). Absent text is ruled out with a plain
# substring test (`in`, SIMD-fast) before the regex scans for positions.
_ANCHORS = [
    (index, view, _literal_prefix(pattern), re.compile(pattern))
    for index, det in enumerate(DETECTORS)
    for view, pattern in det.anchors
]
_VIEWS = {
    "raw": lambda b: b,
    "lower": bytes.lower,
    "digits": lambda b: b.translate(_DIGITS),
    "hex": lambda b: b.translate(_HEX),
}


def flag(texts: Sequence[str | None]) -> list[set[int] | None]:
    """Per text: the indexes (into DETECTORS) of detectors that may match it, or None."""
    flags: list[set[int] | None] = [None] * len(texts)
    if not texts:
        return flags
    parts = [t or "" for t in texts]
    joined = "\x00".join(parts)
    data = joined.encode("utf-8", "surrogatepass")
    if len(data) == len(joined):  # ASCII: byte offsets are character offsets
        lengths = [len(p) + 1 for p in parts]
    else:
        lengths = [len(p.encode("utf-8", "surrogatepass")) + 1 for p in parts]
    starts = [0, *accumulate(lengths)][:-1]
    views: dict[str, bytes] = {}
    for index, view, literal, anchor in _ANCHORS:
        if view not in views:
            views[view] = _VIEWS[view](data)
        if literal and literal not in views[view]:
            continue
        for m in anchor.finditer(views[view]):
            i = bisect.bisect_right(starts, m.start()) - 1
            hit = flags[i]
            if hit is None:
                flags[i] = {index}
            else:
                hit.add(index)
    return flags


def flag_array(array: pa.Array | pa.ChunkedArray) -> dict[int, set[int]]:
    """`flag` for a string column, read straight from its Arrow buffers (no Python strings):
    {row: detector indexes} for the flagged rows only."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if len(array) == 0:
        return {}
    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[
        array.offset : array.offset + len(array) + 1
    ]
    offsets = offsets.astype(np.int64)
    data_buffer = buffers[2]
    if data_buffer is None:
        return {}
    base, end = int(offsets[0]), int(offsets[-1])
    data = data_buffer.to_pybytes()[base:end]
    offsets = offsets - base
    views: dict[str, bytes] = {}
    found: dict[int, set[int]] = {}
    for index, view, literal, anchor in _ANCHORS:
        if view not in views:
            views[view] = _VIEWS[view](data)
        if literal and literal not in views[view]:
            continue
        spans = [m.span() for m in anchor.finditer(views[view])]
        if not spans:
            continue
        bounds = np.asarray(spans, dtype=np.int64)
        first = np.searchsorted(offsets, bounds[:, 0], side="right") - 1
        last = np.searchsorted(offsets, bounds[:, 1] - 1, side="right") - 1
        # A match may run past the end of its text into the next ones (no separator between
        # Arrow values): every text it touches is flagged, so no anchor is ever hidden.
        for a, b in zip(first.tolist(), last.tolist(), strict=True):
            for row in range(a, b + 1):
                found.setdefault(row, set()).add(index)
    return found
