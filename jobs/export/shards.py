"""Shards of one exported split: Parquet or JSONL.zst (Hugging Face names) or MDS, sized by bytes.

The writer knows nothing of the lake: it takes an Arrow table of one split and a local folder,
and writes `<split>/<split>-00000-of-000NN.<ext>` files (MDS: `<split>/shard.NNNNN.mds` and the
split's `index.json`, see mds.py) whose sizes stay near a target. Written
bytes are deterministic (same rows, same options, same pyarrow/zstandard versions -> the same
bytes), which makes a rebuild byte-identical. The test fixture export (tests/trainer_fixture.py)
writes its shards with this module too, so the trainer is tested against the real layout.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import zstandard

from tracelake.schemas.manifest import MANIFEST_NAME, Manifest, ShardEntry, ShardFormat, SplitEntry

from . import mds

# How many rows are encoded to estimate a row's encoded size (rows vary; the estimate only
# chooses row-group row counts: shard boundaries follow the bytes actually written).
_SAMPLE_ROWS = 512
# Parquet options every shard uses: fixed, so the bytes depend on the rows only.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_size": 1 << 20,
}


@dataclass(frozen=True)
class ShardOptions:
    format: ShardFormat = ShardFormat.parquet
    shard_bytes: int = 256 * 1024 * 1024
    row_groups_per_shard: int = 16
    zstd_level: int = 3
    # Fixed rows per shard instead of sizing by bytes (small fixture exports want a set number
    # of shards); shard_bytes still sizes the row groups.
    rows_per_shard: int | None = None

    @property
    def extension(self) -> str:
        return {ShardFormat.parquet: "parquet", ShardFormat.mds: mds.FORMAT}.get(
            self.format, "jsonl.zst"
        )


def shard_name(split: str, index: int, count: int, extension: str) -> str:
    """`train-00000-of-00012.parquet`: the Hugging Face Hub's shard names (MDS shards keep
    streaming's own, `shard.00000.mds`, which its index.json lists)."""
    if extension == mds.FORMAT:
        return mds.shard_name(index)
    return f"{split}-{index:05d}-of-{count:05d}.{extension}"


def _estimates(table: pa.Table, options: ShardOptions) -> tuple[float, float]:
    """(encoded bytes per row, Parquet footer bytes per row group) from a sample of rows.

    The footer (a row group's column-chunk metadata) is written when the shard closes, so the
    size of an open shard is its bytes so far plus the footer its row groups will add."""
    sample = table.slice(0, min(_SAMPLE_ROWS, table.num_rows))
    if sample.num_rows == 0:
        return 1.0, 0.0
    sink = io.BytesIO()
    footer = 0.0
    if options.format is ShardFormat.parquet:
        groups = 2 if sample.num_rows > 1 else 1
        pq.write_table(
            sample, sink, row_group_size=-(-sample.num_rows // groups), **PARQUET_OPTIONS
        )
        footer = pq.ParquetFile(io.BytesIO(sink.getvalue())).metadata.serialized_size / groups
    elif options.format is ShardFormat.mds:
        columns = mds.Columns(sample.schema, options.shard_bytes)
        for row in sample.to_pylist():
            sink.write(columns.encode(row) + b"0000")  # and its offset in the shard header
    else:
        with zstandard.ZstdCompressor(level=options.zstd_level).stream_writer(
            sink, closefd=False
        ) as out:
            for line in _jsonl(sample):
                out.write(line)
    return max(1.0, (len(sink.getvalue()) - footer * 2) / sample.num_rows), footer


def _jsonl(table: pa.Table) -> Iterator[bytes]:
    for batch in table.to_batches(max_chunksize=1024):
        for row in batch.to_pylist():
            yield orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"


class _ShardFile:
    """One shard being written: Parquet row groups, zstd frames or MDS samples (held until
    close: the MDS header lists every sample's offset), with its size so far."""

    def __init__(
        self, path: Path, schema: pa.Schema, options: ShardOptions, footer: float = 0.0
    ) -> None:
        self.path = path
        self.rows = 0
        self.groups = 0
        self._footer = footer
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._options = options
        self._parquet: pq.ParquetWriter | None = None
        self._zstd: zstandard.ZstdCompressionWriter | None = None
        self._mds: mds.Columns | None = None
        self._samples: list[bytes] = []
        self._sample_bytes = 0
        if options.format is ShardFormat.parquet:
            self._parquet = pq.ParquetWriter(self._file, schema, **PARQUET_OPTIONS)
        elif options.format is ShardFormat.mds:
            self._mds = mds.Columns(schema, options.shard_bytes)
        else:
            self._zstd = zstandard.ZstdCompressor(level=options.zstd_level).stream_writer(
                self._file, closefd=False
            )

    def write(self, group: pa.Table) -> None:
        if self._parquet is not None:
            self._parquet.write_table(group, row_group_size=max(1, group.num_rows))
        elif self._mds is not None:
            for row in group.to_pylist():
                sample = self._mds.encode(row)
                self._samples.append(sample)
                self._sample_bytes += len(sample)
        else:
            assert self._zstd is not None
            for line in _jsonl(group):
                self._zstd.write(line)
            self._zstd.flush(zstandard.FLUSH_BLOCK)
        self.rows += group.num_rows
        self.groups += 1

    def size(self) -> float:
        """Bytes once closed (estimated: the footer is written at close)."""
        if self._mds is not None:
            return self._mds.header_bytes(len(self._samples)) + self._sample_bytes
        return self._file.tell() + self.groups * self._footer

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        elif self._zstd is not None:
            self._zstd.close()
        elif self._mds is not None:
            self._file.write(self._mds.shard_bytes(self._samples))
            self._samples = []
        self._file.close()


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest(), path.stat().st_size


def write_split(table: pa.Table, split: str, folder: Path, options: ShardOptions) -> SplitEntry:
    """Write `table` as the shards of `split` under `folder/<split>/`; returns its manifest entry.

    Row groups hold about shard_bytes / row_groups_per_shard encoded bytes each; a shard closes
    once it is within half a row group of the target, so every shard but the last is within a
    few percent of shard_bytes (rows much larger than a row group excepted)."""
    out = folder / split
    out.mkdir(parents=True, exist_ok=True)
    per_row, footer = _estimates(table, options)
    group_bytes = options.shard_bytes / options.row_groups_per_shard
    group_rows = max(1, int((group_bytes - footer) / per_row))
    temp: list[tuple[Path, int]] = []
    shard: _ShardFile | None = None
    offset = 0
    while offset < table.num_rows:
        if shard is None:
            shard = _ShardFile(out / f".part-{len(temp):05d}", table.schema, options, footer)
        take = group_rows
        if options.rows_per_shard:
            take = min(group_rows, options.rows_per_shard - shard.rows)
        group = table.slice(offset, take)
        shard.write(group)
        offset += group.num_rows
        full = (
            shard.rows >= options.rows_per_shard
            if options.rows_per_shard
            else shard.size() >= options.shard_bytes - group_bytes / 2
        )
        if full:
            shard.close()
            temp.append((shard.path, shard.rows))
            shard = None
    if shard is not None or not temp:  # the last shard (or the one empty shard of no rows)
        if shard is None:
            shard = _ShardFile(out / f".part-{len(temp):05d}", table.schema, options)
        shard.close()
        temp.append((shard.path, shard.rows))
    entries = []
    for index, (path, rows) in enumerate(temp):
        final = out / shard_name(split, index, len(temp), options.extension)
        os.replace(path, final)
        digest, size = sha256_file(final)
        entries.append(
            ShardEntry(path=f"{split}/{final.name}", rows=rows, bytes=size, sha256=digest)
        )
    if options.format is ShardFormat.mds:
        columns = mds.Columns(table.schema, options.shard_bytes)
        shards = [(e.path.rsplit("/", 1)[1], e.rows, e.bytes) for e in entries]
        mds.write_index(out, columns, shards)
    return SplitEntry(rows=table.num_rows, shards=entries)


def upload(local: Path, fs: pafs.FileSystem, folder: str, manifest: Manifest) -> None:
    """Copy an export written under `local` to `folder` of `fs`: every shard first, then a
    split's index (MDS), the manifest last, so a reader that finds the manifest finds every
    shard."""
    for split, entry in manifest.splits.items():
        fs.create_dir(f"{folder}/{split}", recursive=True)
        paths = [shard.path for shard in entry.shards]
        if (local / split / mds.INDEX_NAME).exists():
            paths.append(f"{split}/{mds.INDEX_NAME}")
        for path in paths:
            # compression=None: pyarrow would otherwise compress a `.zst` name a second time
            with (
                open(local / path, "rb") as src,
                fs.open_output_stream(f"{folder}/{path}", compression=None) as out,
            ):
                while chunk := src.read(8 << 20):
                    out.write(chunk)
    with fs.open_output_stream(f"{folder}/{MANIFEST_NAME}") as out:
        out.write(manifest.to_json().encode())


# The manifest counts rows per value of these columns, where a dataset has them.
COUNTED_COLUMNS = ("phase", "level", "pattern", "source", "rule")


def counts_of(table: pa.Table) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for column in COUNTED_COLUMNS:
        if column in table.column_names:
            values = pc.value_counts(table[column]).to_pylist()
            counts[column] = {
                ("null" if v["values"] is None else str(v["values"])): int(v["counts"])
                for v in sorted(values, key=lambda v: str(v["values"]))
            }
    return counts
