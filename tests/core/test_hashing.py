"""The C hashers (jobs/ingest/_hashing.c) give the `xxhash` package's digests, value for value:
stored content hashes and index keys must not depend on whether the extension was built."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from tracelake.jobs.ingest import hashing

pytestmark = pytest.mark.skipif(hashing._hashing is None, reason="the C hashers are not built")


def both(fn, values):
    saved = hashing.HASHER
    try:
        hashing.HASHER = "native"
        native = fn(values)
        hashing.HASHER = "python"
        reference = fn(values)
    finally:
        hashing.HASHER = saved
    return native, reference


texts = st.lists(st.none() | st.text(max_size=300), max_size=60)


@settings(max_examples=150, deadline=None)
@given(texts, st.integers(0, 5), st.sampled_from([pa.string(), pa.large_string()]))
def test_native_and_python_digests_agree(values, cut, type_):
    array = pa.array(values, type_).slice(min(cut, len(values)))  # a sliced array too
    native64, reference64 = both(hashing.xxh3_64, array)
    assert native64.dtype == np.uint64 and native64.tolist() == reference64.tolist()
    native128, reference128 = both(hashing.xxh3_128_hex, array)
    assert native128.to_pylist() == reference128.to_pylist()
    expected = [xxhash.xxh3_128_hexdigest((v or "").encode()) for v in array.to_pylist()]
    assert native128.to_pylist() == expected
    assert native64.tolist() == [
        xxhash.xxh3_64_intdigest((v or "").encode()) for v in array.to_pylist()
    ]


def test_lengths_around_the_algorithms_thresholds():
    # xxh3 switches code paths at 3, 16, 128 and 240 bytes and at its stripe sizes.
    values = [bytes(range(256)) * 8][0]
    lengths = [0, 1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1024, 2048]
    array = pa.array([values[:n] for n in lengths], pa.binary())
    assert hashing.xxh3_64(array).tolist() == [
        xxhash.xxh3_64_intdigest(values[:n]) for n in lengths
    ]
    assert hashing.xxh3_128_hex(array).to_pylist() == [
        xxhash.xxh3_128_hexdigest(values[:n]) for n in lengths
    ]


def test_offsets_outside_the_data_are_refused():
    with pytest.raises(ValueError, match="outside"):
        hashing._hashing.xxh3_64(np.array([0, 10], np.int64), b"short")
    with pytest.raises(ValueError, match="int64"):
        hashing._hashing.xxh3_128_hex(np.array([0, 1, 2], np.int32), b"short")


fields = st.lists(
    st.one_of(
        st.sampled_from(["\x00", "const"]),
        st.tuples(texts, st.integers(0, 3), st.booleans()),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(fields, st.integers(1, 30))
def test_row_digests_are_the_digests_of_the_joined_rows(spec, rows):
    # Every array field has `rows` rows (padded, then sliced: arrays with an offset too).
    texts = []
    for item in spec:
        if isinstance(item, str):
            texts.append(item)
            continue
        values, cut, large = item
        padded = ([None, "x"] * cut)[:cut] + (values * rows + ["pad"] * rows)[:rows]
        texts.append(pa.array(padded, pa.large_string() if large else pa.string()).slice(cut))
    if all(isinstance(t, str) for t in texts):
        texts.append(pa.array(["only"] * rows))
    native, reference = both(lambda t: hashing.xxh3_128_hex_rows(t, "\x1f", "\x00"), texts)
    assert native.to_pylist() == reference.to_pylist()
    joined = hashing.joined_rows(texts, "\x1f", "\x00").to_pylist()
    assert native.to_pylist() == [xxhash.xxh3_128_hexdigest(j.encode()) for j in joined]


def test_a_module_not_built_is_none_and_a_named_directory_without_it_is_an_error(
    monkeypatch, tmp_path
):
    from tracelake.jobs.ingest import native

    load = native.load.__wrapped__  # uncached: the modules are loaded once per process
    assert load("_not_a_module") is None
    monkeypatch.setenv("TRACELAKE_NATIVE_DIR", str(tmp_path))
    with pytest.raises((ImportError, FileNotFoundError)):
        load("_hashing")
