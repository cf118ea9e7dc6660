"""Which detectors may match which texts, for a whole column at once.

Python's `re` scans a character class at tens of MB/s but finds a literal at GB/s. So the texts
are joined into one byte string and four views of it are made with `bytes.translate`/`lower`
(raw, lower-cased, every digit as `0`, every hex digit as `0`); each detector's anchors are
literal-led regexes over one view, so that every one of them runs at literal-search speed. A text
in which no anchor occurs is clean and is never looked at again; the rest go to the detectors
whose anchors occur in them.

Before that, one RE2 pass (Arrow's `match_substring_regex`, in C++ without the GIL) over the
texts with every anchor in one pattern (`FAST_PATTERN`) sets aside the texts none can match: on
clean text, most of it, that pass is what the prefilter costs. The pattern is made from the
anchors themselves and only ever widened (views as classes, long counted repetitions unbounded),
so a text it sets aside is one the anchors would have passed over too.
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


# What one byte of a view stands for in the raw text, where the view maps several bytes to one.
_VIEW_ZERO = {"digits": "[0-9]", "hex": "[0-9A-Fa-f]"}
# Python's `\s` over bytes; RE2's leaves out the vertical tab.
_SPACE_CHARS = "\\t\\n\\x0b\\f\\r "
# Below this much text the RE2 pass costs more than it saves: Arrow compiles the pattern on
# every call (about 0.4 ms), the anchors scan ~30 KB in that time.
_FAST_FROM_BYTES = 16_384
# A counted repetition with an upper bound above this is left unbounded: RE2 compiles bounded
# repetitions by unrolling them, and a wider pattern only sets aside fewer texts.
_MAX_BOUND = 8


def _raw_regex(anchor: bytes, view: str) -> str:
    """An RE2 pattern over the raw text matching wherever `anchor` matches its view (and maybe
    more): the view's zero as the class it stands for, `\\s` spelled out, long counted
    repetitions unbounded; a lower-cased view's anchor is matched case-insensitively."""
    text, out, i, in_class = anchor.decode("ascii"), [], 0, False
    while i < len(text):
        char = text[i]
        if char == "\\":
            pair = text[i : i + 2]
            if pair == "\\s":
                out.append(_SPACE_CHARS if in_class else f"[{_SPACE_CHARS}]")
            else:
                out.append(pair)
            i += 2
            continue
        if char == "{" and not in_class:
            close = text.index("}", i)
            low, _, high = text[i + 1 : close].partition(",")
            wide = high and int(high) > _MAX_BOUND
            out.append(f"{{{low},}}" if wide else text[i : close + 1])
            i = close + 1
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        if char == "0" and view in _VIEW_ZERO:
            # inside a class, the range it stands for
            out.append(_VIEW_ZERO[view][1:-1] if in_class else _VIEW_ZERO[view])
        else:
            out.append(char)
        i += 1
    pattern = "".join(out)
    return f"(?i:{pattern})" if view == "lower" else f"(?:{pattern})"


FAST_PATTERN = "|".join(dict.fromkeys(_raw_regex(a.pattern, view) for _, view, _, a in _ANCHORS))


def _candidates(texts: pa.Array) -> np.ndarray:
    """Indexes of the texts some anchor may match (one RE2 pass). Over the bytes, as the anchors
    see them: on a binary array RE2 matches byte by byte (Latin-1 mode), so invalid UTF-8 that
    Parquet let through meets a negated class as it does in Python's bytes `re`."""
    import pyarrow.compute as pc

    binary = pa.large_binary() if pa.types.is_large_string(texts.type) else pa.binary()
    try:
        maybe = pc.match_substring_regex(texts.view(binary), FAST_PATTERN)
    except pa.ArrowException:  # a pattern RE2 cannot take: no text is set aside
        return np.arange(len(texts))
    return np.flatnonzero(pc.fill_null(maybe, False).to_numpy(zero_copy_only=False))


def flag(texts: Sequence[str | None]) -> list[set[int] | None]:
    """Per text: the indexes (into DETECTORS) of detectors that may match it, or None."""
    flags: list[set[int] | None] = [None] * len(texts)
    if not texts:
        return flags
    if sum(len(t) for t in texts if t) < _FAST_FROM_BYTES:
        return _flag_all(texts)
    try:
        array = pa.array(texts, pa.large_string())
    except (pa.ArrowException, UnicodeError):  # lone surrogates: no Arrow string holds them
        return _flag_all(texts)
    rows = _candidates(array).tolist()
    for row, hits in zip(rows, _flag_all([texts[i] for i in rows]), strict=True):
        flags[row] = hits
    return flags


def _flag_all(texts: Sequence[str | None]) -> list[set[int] | None]:
    """`flag` without the RE2 pass: every anchor over every text."""
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
    if array.nbytes < _FAST_FROM_BYTES:
        return _flag_array_all(array)
    rows = _candidates(array)
    if len(rows) == 0:
        return {}
    if len(rows) < len(array):
        found = _flag_array_all(array.take(pa.array(rows)))
        return {int(rows[i]): hits for i, hits in found.items()}
    return _flag_array_all(array)


def _flag_array_all(array: pa.Array) -> dict[int, set[int]]:
    """`flag_array` without the RE2 pass."""
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
