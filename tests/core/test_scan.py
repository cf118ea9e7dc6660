"""The C scanner of canonical lines (jobs/ingest/_scan.c) against Python's own JSON reading.

A line the scanner takes must give exactly the values `json.loads` gives; a line it leaves must
be one that is not a plain event object (the per-line path decides those), and every plain line
must be taken, or the fast path would quietly become the slow one.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracelake.jobs.ingest import fastpath

pytestmark = pytest.mark.skipif(
    fastpath._scan is None, reason="the C scanner is not built (no C compiler at install)"
)

FIELDS = {f.name: str(f.type) for f in fastpath._READ_SCHEMA}
INT64 = (-(2**63), 2**63 - 1)


def test_the_scanner_is_built_where_a_compiler_is():
    # `pip install -e .` compiles it; CI and the dev machines have gcc, so a missing build is a
    # packaging regression, not an environment quirk.
    import shutil

    if shutil.which("cc") or shutil.which("gcc"):
        assert fastpath.SCANNER == "native"


def plain(obj: dict) -> bool:
    """Whether a decoded line is what the scanner must take."""
    for name, value in obj.items():
        if name == "attributes":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                return False
            if any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items()):
                return False
            continue
        kind = FIELDS.get(name)
        if kind is None:
            return False
        if value is None:
            continue
        if kind == "string" and not (isinstance(value, str) and not _has_surrogate(value)):
            return False
        if kind == "int64" and not (type(value) is int and INT64[0] <= value <= INT64[1]):
            return False
        if kind == "double":
            if type(value) not in (int, float):
                return False
            try:
                if not math.isfinite(float(value)):
                    return False
            except OverflowError:
                return False
    return True


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def scan(lines: list[bytes]):
    block = fastpath.LineBlock.of_lines(lines)
    return fastpath._scan_block(block)


characters = st.characters(codec="utf-8") | st.characters(
    min_codepoint=0xD800, max_codepoint=0xDFFF
)
strings = st.text(characters, max_size=8)
numbers = (
    st.integers(-(2**70), 2**70)
    | st.sampled_from([0, -0.0, 2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 10**400])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e308, 5e-324, 1.5, -2.25e-7])
)
scalars = st.none() | st.booleans() | numbers | strings
values = scalars | st.lists(scalars, max_size=2) | st.dictionaries(strings, scalars, max_size=2)
names = st.sampled_from(sorted(FIELDS)) | st.sampled_from(["attributes", "extra", "Seq", ""])
valid_strings = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
by_kind = {
    "string": valid_strings,
    "int64": st.integers(*INT64),
    "double": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**64), 2**64),
}
plain_objects = st.fixed_dictionaries(
    {},
    optional={
        **{name: st.none() | by_kind[kind] for name, kind in FIELDS.items()},
        "attributes": st.dictionaries(valid_strings, valid_strings, max_size=3),
    },
)
objects = plain_objects | st.dictionaries(
    names,
    values | st.dictionaries(strings, strings | st.none(), max_size=3),
    max_size=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            objects, st.booleans(), st.sampled_from([(",", ":"), (", ", ": "), (" ,\t", " : ")])
        ),
        min_size=1,
        max_size=12,
    )
)
def test_taken_lines_read_as_json_loads_reads_them(rows):
    lines = [
        json.dumps(obj, ensure_ascii=ascii_only, separators=seps).encode("utf-8", "surrogatepass")
        for obj, ascii_only, seps in rows
    ]
    table, mine = scan(lines)
    mine = mine.to_pylist()
    for i, (obj, _, _) in enumerate(rows):
        try:
            lines[i].decode("utf-8")
        except UnicodeDecodeError:
            continue  # a raw surrogate: the caller's UTF-8 check sends the block elsewhere
        assert mine[i] == plain(obj), (lines[i], obj)
        if not mine[i]:
            continue
        decoded = json.loads(lines[i])
        row = table.slice(i, 1).to_pylist()[0]
        for name, kind in FIELDS.items():
            expected = decoded.get(name)
            if kind == "double" and expected is not None:
                expected = float(expected)
            assert row[name] == expected, (name, lines[i])
            if kind == "double" and expected is not None:
                assert math.copysign(1, row[name]) == math.copysign(1, expected)
        assert row["attributes"] == list(decoded.get("attributes", {}).items())


@pytest.mark.parametrize(
    "line",
    [
        b'{"seq": 1, "seq": 2}',  # a repeated key: pydantic keeps the last, Arrow refuses
        b'{"attributes": {"a": "1", "a": "2"}}',
        b'{"attributes": null}',  # explicit null map: pydantic explains
        b'{"attributes": {"a": null}}',
        b'{"attributes": {"a": 1}}',
        b'{"event\\u005fid": "x"}',  # an escape in a key
        b'{"seq": true}',
        b'{"seq": 1.0}',
        b'{"seq": 9223372036854775808}',
        b'{"latency_ms": 1e400}',
        b'{"latency_ms": Infinity}',
        b'{"latency_ms": NaN}',
        b'{"seq": 01}',
        b'{"seq": 1.}',
        b'{"seq": -}',
        b'{"input": "a\\ud800"}',  # a lone surrogate
        b'{"input": "a\\udc00b"}',
        b'{"input": "tab\there"}',  # a raw control character
        b'{"input": "bad \\x escape"}',
        b'{"input": "unterminated}',
        b'{"input": "x"} trailing',
        b'{"input": "x"}{"input": "y"}',
        b'{"input": "x",}',
        b'{"input" "x"}',
        b"[1]",
        b"null",
        b"{",
    ],
)
def test_what_is_not_plain_is_left_to_the_per_line_path(line):
    table, mine = scan([b'{"seq": 5}', line, b'{"seq": 6}'])
    assert mine.to_pylist() == [True, False, True]
    # the rejected row is null everywhere and the rows around it are intact
    assert table["seq"].to_pylist() == [5, None, 6]
    assert table["attributes"].to_pylist() == [[], [], []]


def test_escapes_and_unicode_decode_exactly():
    text = 'q"b\\s/\b\f\n\r\t é€😀 \u2028'
    line = json.dumps({"input": text, "output": "plain"}, ensure_ascii=True).encode()
    raw = json.dumps({"input": text}, ensure_ascii=False).encode()
    table, mine = scan([line, raw, b'{"input": "\\/"}'])
    assert mine.to_pylist() == [True, True, True]
    assert table["input"].to_pylist() == [text, text, "/"]


def test_int64_bounds_are_exact():
    table, mine = scan(
        [
            b'{"seq": 9223372036854775807}',
            b'{"seq": -9223372036854775808}',
            b'{"seq": -0}',
            b'{"seq": 18446744073709551616}',
        ]
    )
    assert mine.to_pylist() == [True, True, True, False]
    assert table["seq"].to_pylist() == [2**63 - 1, -(2**63), 0, None]


def test_lines_outside_the_text_are_an_error_not_a_crash():
    with pytest.raises(ValueError, match="outside"):
        fastpath._scan.scan(
            b"{}",
            np.array([0], np.int64),
            np.array([5], np.int64),
            fastpath._SCAN_NAMES,
            fastpath._SCAN_KINDS,
        )


def test_a_large_block_grows_its_buffers():
    big = "x" * 100_000
    lines = [
        json.dumps({"input": big, "seq": i, "attributes": {"k": big}}).encode() for i in range(50)
    ]
    table, mine = scan(lines)
    assert all(mine.to_pylist())
    assert table["input"].to_pylist() == [big] * 50
    assert table["seq"].to_pylist() == list(range(50))
    assert table["attributes"].to_pylist()[-1] == [("k", big)]
    assert isinstance(table["attributes"].chunk(0), pa.MapArray)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000), st.integers(0, 7))
def test_newlines_in_c_are_numpys(data, cut):
    from types import SimpleNamespace

    from tracelake.jobs.ingest import sources

    raw = np.frombuffer(data, np.uint8)[cut:]  # a view that does not start at its buffer
    native = sources.newline_offsets(raw), sources.count_newlines(raw)
    saved = sources.native
    sources.native = SimpleNamespace(load=lambda name: None)
    try:
        reference = sources.newline_offsets(raw), sources.count_newlines(raw)
    finally:
        sources.native = saved
    assert (
        native[0].tolist()
        == reference[0].tolist()
        == [i for i, b in enumerate(data[cut:]) if b == 10]
    )
    assert native[1] == reference[1] == len(reference[0])
