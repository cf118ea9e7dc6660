"""xxh3 digests of every value of an Arrow binary/string array: the C hashers (`_hashing`,
built by `pip install`) where built, the `xxhash` package one value at a time otherwise. Both
give the same digests (tests/core/test_hashing.py)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from . import native

_hashing: Any = native.load("_hashing")

# "native" (the C hashers) or "python" (the xxhash package a value at a time); tests run both.
HASHER = "native" if _hashing is not None else "python"
_HEX_WIDTH = 32


def _offsets_and_data(values: pa.Array) -> tuple[np.ndarray, pa.Buffer | bytes]:
    if (
        pa.types.is_string(values.type)
        or pa.types.is_binary(values.type)
        or pa.types.is_large_string(values.type)
    ):
        values = values.cast(pa.large_binary())
    offsets = np.frombuffer(values.buffers()[1], np.int64)[
        values.offset : values.offset + len(values) + 1
    ]
    return offsets, values.buffers()[2] or b""


def xxh3_64(values: pa.Array) -> np.ndarray:
    """xxh3-64 of each value's bytes, as uint64 (a null hashes as empty bytes)."""
    if len(values) == 0:
        return np.empty(0, np.uint64)
    offsets, data = _offsets_and_data(values)
    if HASHER == "native":
        return np.frombuffer(_hashing.xxh3_64(np.ascontiguousarray(offsets), data), np.uint64)
    view = memoryview(data)
    return np.fromiter(
        (xxhash.xxh3_64_intdigest(view[a:b]) for a, b in itertools.pairwise(offsets.tolist())),
        np.uint64,
        count=len(values),
    )


def xxh3_128_hex(values: pa.Array) -> pa.Array:
    """xxh3-128 of each value's bytes as 32 hex digits, a string array."""
    n = len(values)
    if n == 0:
        return pa.array([], pa.string())
    offsets, data = _offsets_and_data(values)
    if HASHER == "native":
        digits = _hashing.xxh3_128_hex(np.ascontiguousarray(offsets), data)
        starts = np.arange(0, (n + 1) * _HEX_WIDTH, _HEX_WIDTH, dtype=np.int32)
        return pa.Array.from_buffers(
            pa.string(), n, [None, pa.py_buffer(starts), pa.py_buffer(digits)]
        )
    view = memoryview(data)
    return pa.array(
        [xxhash.xxh3_128_hexdigest(view[a:b]) for a, b in itertools.pairwise(offsets.tolist())],
        pa.string(),
    )


def joined_rows(texts: list[pa.Array | str], separator: str, null: str) -> pa.Array:
    """Each row's texts joined by `separator`, a null written `null` (a str stands for that
    text in every row)."""
    columns = [
        pa.scalar(t, pa.large_string())
        if isinstance(t, str)
        else pc.fill_null(t, null).cast(pa.large_string())
        for t in texts
    ]
    return pc.binary_join_element_wise(*columns, pa.scalar(separator, pa.large_string()))


def xxh3_128_hex_rows(texts: list[pa.Array | str], separator: str, null: str) -> pa.Array:
    """xxh3_128_hex of `joined_rows(texts, separator, null)`, without building the join where
    the C hashers are built (one row's bytes at a time in a small buffer)."""
    arrays = [t for t in texts if not isinstance(t, str)]
    if HASHER != "native" or not arrays:
        return xxh3_128_hex(joined_rows(texts, separator, null))
    n = len(arrays[0])
    fields: list[bytes | tuple] = []
    for text in texts:
        if isinstance(text, str):
            fields.append(text.encode())
            continue
        if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
            raise TypeError(f"texts must be strings, not {text.type}")
        validity, offsets, data = text.buffers()
        fields.append(
            (
                validity if text.null_count else None,
                offsets,
                data if data is not None else b"",
                text.offset,
                pa.types.is_large_string(text.type),
            )
        )
    digits = _hashing.xxh3_128_hex_rows(n, fields, separator.encode(), null.encode())
    starts = np.arange(0, (n + 1) * _HEX_WIDTH, _HEX_WIDTH, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(starts), pa.py_buffer(digits)])
