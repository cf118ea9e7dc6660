"""MDS (Mosaic streaming) shards written without mosaicml-streaming: one split's rows -> the
`shard.NNNNN.mds` files and `index.json` that `streaming.StreamingDataset` reads.

mosaicml-streaming 0.13 pins numpy<2.2 and transformers<5, which the trainer's stack cannot
share, so the format is written here (it is small) and proven with the real reader in its own
environment (`make mds-env`, tests/export/test_export_mds.py). The layout follows streaming's
MDSWriter (streaming/base/format/mds/writer.py, version 2, no compression, no hashes):

  shard file = uint32 sample count
             + uint32 offsets[count + 1] (absolute byte offsets of each sample, then the end)
             + the writer config as sorted-key JSON
             + samples;
  sample     = uint32 byte size of each variable-size column (in column-name order)
             + each column's bytes (in column-name order).

Column encodings come from the Arrow type, so they are fixed per dataset schema: non-null
strings `str`, non-null int64 `int`, non-null float64 `float64`; everything else (nullable
columns, booleans, lists, structs) `json`, which streaming decodes with json.loads and which
round-trips nulls and nested conversations. All integers are little-endian, as numpy writes
them on the platforms streaming supports. The bytes depend on the rows only (no timestamps,
sorted keys), so a rebuild is byte-identical.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

FORMAT = "mds"
INDEX_NAME = "index.json"  # streaming's get_index_basename()
MDS_VERSION = 2
# Sample offsets are uint32: a shard must stay below 4 GiB.
MAX_SHARD_BYTES = (1 << 32) - 1
# streaming's fixed-size encodings and their byte sizes (None: variable, sized per sample).
_FIXED = {"int": 8, "float64": 8}


def shard_name(index: int) -> str:
    """`shard.00000.mds`: the name streaming's writer gives (index.json refers to it)."""
    return f"shard.{index:05d}.{FORMAT}"


def encoding_of(field: pa.Field) -> str:
    """The MDS encoding of an Arrow column (see the module docstring)."""
    if not field.nullable:
        if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            return "str"
        if pa.types.is_int64(field.type):
            return "int"
        if pa.types.is_float64(field.type):
            return "float64"
    return "json"


class Columns:
    """A schema's MDS columns (sorted by name, as streaming's writer orders them) and the
    writer config every shard embeds and index.json repeats."""

    def __init__(self, schema: pa.Schema, size_limit: int) -> None:
        fields = sorted(schema, key=lambda f: f.name)
        self.names = [f.name for f in fields]
        self.encodings = [encoding_of(f) for f in fields]
        self.sizes: list[int | None] = [_FIXED.get(e) for e in self.encodings]
        self.config: dict[str, Any] = {
            "version": MDS_VERSION,
            "format": FORMAT,
            "compression": None,
            "hashes": [],
            "size_limit": size_limit,
            "column_names": self.names,
            "column_encodings": self.encodings,
            "column_sizes": self.sizes,
        }
        # json.dumps as streaming writes it (its reader skips these bytes by the offsets).
        self.config_bytes = json.dumps(self.config, sort_keys=True).encode("utf-8")

    def encode(self, row: dict[str, Any]) -> bytes:
        sizes: list[int] = []
        data: list[bytes] = []
        for name, encoding, size in zip(self.names, self.encodings, self.sizes, strict=True):
            datum = _encode(encoding, row[name])
            if size is None:
                sizes.append(len(datum))
            data.append(datum)
        return struct.pack(f"<{len(sizes)}I", *sizes) + b"".join(data)

    def shard_bytes(self, samples: list[bytes]) -> bytes:
        """A whole shard file: count, offsets, config, samples."""
        start = 4 + 4 * (len(samples) + 1) + len(self.config_bytes)
        offsets = [start]
        for sample in samples:
            offsets.append(offsets[-1] + len(sample))
        if offsets[-1] > MAX_SHARD_BYTES:
            raise ValueError(f"an MDS shard of {offsets[-1]} bytes exceeds 4 GiB")
        head = struct.pack(f"<I{len(offsets)}I", len(samples), *offsets)
        return head + self.config_bytes + b"".join(samples)

    def header_bytes(self, count: int) -> int:
        """Bytes of a shard of `count` samples besides the samples themselves."""
        return 4 + 4 * (count + 1) + len(self.config_bytes)


def _encode(encoding: str, value: Any) -> bytes:
    if encoding == "str":
        return str(value).encode("utf-8")
    if encoding == "int":
        return struct.pack("<q", value)
    if encoding == "float64":
        return struct.pack("<d", value)
    # Compact, UTF-8, deterministic; streaming's JSON decoder is json.loads.
    return orjson.dumps(value)


def write_index(folder: Path, columns: Columns, shards: Iterable[tuple[str, int, int]]) -> Path:
    """`index.json` of one split: per shard (basename, samples, bytes) plus the writer config,
    in the shape and key order streaming's writer gives it."""
    entries = []
    for basename, samples, size in shards:
        entry: dict[str, Any] = {
            "samples": samples,
            "raw_data": {"basename": basename, "bytes": size, "hashes": {}},
            "zip_data": None,
        }
        entry.update(columns.config)
        entries.append(entry)
    path = folder / INDEX_NAME
    path.write_text(json.dumps({"version": MDS_VERSION, "shards": entries}, sort_keys=True))
    return path
