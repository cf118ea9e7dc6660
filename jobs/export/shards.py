"""Shards of one exported split: Parquet or JSONL.zst (Hugging Face names) or MDS, sized by bytes.

The writer knows nothing of the lake: it takes a stream of Arrow record batches (`write_splits`,
one thread per split; `SplitWriter` for one split; `write_split` for one table) and a local
folder, and writes `<split>/<split>-00000-of-000NN.<ext>` files (MDS: `<split>/shard.NNNNN.mds`
and the split's `index.json`, see mds.py) whose sizes stay near a target.
Written bytes are deterministic (the same rows in the same order, same options, same
pyarrow/zstandard versions -> the same bytes), which makes a rebuild byte-identical.
The test fixture export (tests/trainer_fixture.py) writes its shards with this module too, so
the trainer is tested against the real layout.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import random
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
# Parquet options every shard uses: fixed, so the bytes depend on the rows only. zstd level 1:
# on gold.examples rows it wrote 2.4x faster than level 3 and no bigger (17.6 vs 19.6 MB for
# 55 MB of Arrow), where snappy was slower than zstd 1 and 1.8x bigger (docs/export.md).
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_size": 1 << 20,
}


# What else decides a shard's bytes (part of the default build id): bump it when the writer's
# options or the row order change, so that a rebuild after an upgrade gets a new build id
# instead of a conflict with the build the older writer published.
WRITER_LAYOUT = "2: parquet zstd-1, stream order, 16 MiB batches"


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


@dataclass(frozen=True)
class _Estimate:
    """Encoded bytes per row, and the Parquet footer's bytes: per row group and once per file.

    The footer (the schema, and each row group's column-chunk metadata) is written when the shard
    closes, so the size of an open shard is its bytes so far plus the footer it will add."""

    per_row: float
    footer_per_group: float = 0.0
    footer_fixed: float = 0.0


def _parquet_sample(sample: pa.Table, groups: int) -> tuple[int, int]:
    sink = io.BytesIO()
    rows = -(-sample.num_rows // groups)
    pq.write_table(sample, sink, row_group_size=rows, **PARQUET_OPTIONS)
    footer = pq.ParquetFile(io.BytesIO(sink.getvalue())).metadata.serialized_size
    return len(sink.getvalue()), footer


def _estimates(table: pa.Table, options: ShardOptions) -> _Estimate:
    """The encoded size of a sample of the first rows (rows vary: this only starts the row
    group sizing, which then follows the bytes written)."""
    sample = table.slice(0, min(_SAMPLE_ROWS, table.num_rows))
    if sample.num_rows == 0:
        return _Estimate(1.0)
    if options.format is ShardFormat.parquet:
        size, one = _parquet_sample(sample, 1)
        per_group = one / 2
        if sample.num_rows > 1:  # a row group's share of the footer, from a few rows
            few = sample.slice(0, min(16, sample.num_rows))
            per_group = max(0.0, _parquet_sample(few, 2)[1] - _parquet_sample(few, 1)[1])
        encoded = size - one - 12  # "PAR1" at both ends, the footer's length
        return _Estimate(max(1.0, encoded / sample.num_rows), per_group, one - per_group)
    sink = io.BytesIO()
    if options.format is ShardFormat.mds:
        columns = mds.Columns(sample.schema, options.shard_bytes)
        for row in sample.to_pylist():
            sink.write(columns.encode(row) + b"0000")  # and its offset in the shard header
    else:
        with zstandard.ZstdCompressor(level=options.zstd_level).stream_writer(
            sink, closefd=False
        ) as out:
            for line in _jsonl(sample):
                out.write(line)
    return _Estimate(max(1.0, len(sink.getvalue()) / sample.num_rows))


def _jsonl(table: pa.Table) -> Iterator[bytes]:
    for batch in table.to_batches(max_chunksize=1024):
        for row in batch.to_pylist():
            yield orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"


class _ShardFile:
    """One shard being written: Parquet row groups, zstd frames or MDS samples (held until
    close: the MDS header lists every sample's offset), with its size so far."""

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        options: ShardOptions,
        estimate: _Estimate | None = None,
    ) -> None:
        self.path = path
        self.rows = 0
        self.groups = 0
        self._estimate = estimate or _Estimate(1.0)
        self._hashed = _HashedFile(path)
        self._file = io.BufferedWriter(self._hashed, buffer_size=1 << 20)
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
        footer = self._estimate.footer_fixed + self.groups * self._estimate.footer_per_group
        return self._file.tell() + footer

    def close(self) -> tuple[str, int]:
        """Close the shard; returns its sha256 and size."""
        if self._parquet is not None:
            self._parquet.close()
        elif self._zstd is not None:
            self._zstd.close()
        elif self._mds is not None:
            self._file.write(self._mds.shard_bytes(self._samples))
            self._samples = []
        self._file.close()
        return self._hashed.digest.hexdigest(), self.path.stat().st_size


class _HashedFile(io.FileIO):
    """A file opened for writing that hashes what is written (the manifest's sha256 without
    reading the shard back)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "wb")
        self.digest = hashlib.sha256()

    def write(self, data: Any) -> int:
        written = super().write(data)
        if written:
            self.digest.update(memoryview(data).cast("B")[:written])
        return written


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest(), path.stat().st_size


class SplitWriter:
    """Streams the rows of one split into its shards: `add` record batches in order, then
    `finish` for the manifest entry.

    Row groups hold about shard_bytes / row_groups_per_shard encoded bytes each; a shard closes
    once it is within half a row group of the target, so every shard but the last is within a
    few percent of shard_bytes (rows much larger than a row group excepted). Rows per row group
    start from an estimate on the first rows and follow the bytes actually written since. The
    writer holds at most one row group of rows (plus the batch being added), whatever the size
    of the split: with `shuffle_seed`, rows are spilled to an Arrow IPC file next to the shards
    and read back memory-mapped in the permuted order at `finish`."""

    def __init__(
        self,
        split: str,
        folder: Path,
        schema: pa.Schema,
        options: ShardOptions,
        shuffle_seed: int | None = None,
    ) -> None:
        self.split = split
        self.schema = schema
        self.options = options
        self.rows = 0
        self._out = folder / split
        self._out.mkdir(parents=True, exist_ok=True)
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._per_row: float | None = None
        self._estimate = _Estimate(1.0)
        self._encoded = 0.0  # bytes the written row groups took, footers excluded
        self._encoded_rows = 0
        self._group_bytes = options.shard_bytes / options.row_groups_per_shard
        self._shard: _ShardFile | None = None
        self._done: list[tuple[Path, int, str, int]] = []
        self._seed = shuffle_seed
        self._spill_path = self._out / ".shuffle.arrow"
        self._spill: pa.ipc.RecordBatchFileWriter | None = None

    def add(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self.rows += batch.num_rows
        if self._seed is not None:
            if self._spill is None:
                self._spill = pa.ipc.new_file(str(self._spill_path), self.schema)
            self._spill.write_batch(batch)
        else:
            self._append(batch)

    def _append(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self._drain(final=False)

    def _group_rows(self) -> int:
        assert self._per_row is not None
        footer = self._estimate.footer_per_group
        return max(1, int((self._group_bytes - footer) / self._per_row))

    def _drain(self, final: bool) -> None:
        if self._per_row is None:
            if self._pending_rows < _SAMPLE_ROWS and not final:
                return
            sample = pa.Table.from_batches(self._pending, self.schema)
            self._estimate = _estimates(sample, self.options)
            self._per_row = self._estimate.per_row
        while self._pending_rows:
            take = self._group_rows()
            if self.options.rows_per_shard:
                open_rows = self._shard.rows if self._shard is not None else 0
                take = min(take, self.options.rows_per_shard - open_rows)
            if self._pending_rows < take and not final:
                return
            self._write_group(self._take(take))

    def _take(self, rows: int) -> pa.Table:
        pending = pa.Table.from_batches(self._pending, self.schema)
        group = pending.slice(0, rows)
        rest = pending.slice(group.num_rows)
        self._pending = rest.to_batches()
        self._pending_rows = rest.num_rows
        # Not combined into one chunk (that copy cost 14% of the export's CPU): a row group's
        # bytes depend on how its rows are chunked, which follows the input batches, fixed for
        # a pinned table version and the reader's batch size (part of WRITER_LAYOUT).
        return group

    def _write_group(self, group: pa.Table) -> None:
        if self._shard is None:
            path = self._out / f".part-{len(self._done):05d}"
            self._shard = _ShardFile(path, self.schema, self.options, self._estimate)
        shard = self._shard
        before = shard.size()
        shard.write(group)
        self._encoded += shard.size() - before - self._estimate.footer_per_group
        self._encoded_rows += group.num_rows
        self._per_row = max(1.0, self._encoded / self._encoded_rows)
        full = (
            shard.rows >= self.options.rows_per_shard
            if self.options.rows_per_shard
            else shard.size() >= self.options.shard_bytes - self._group_bytes / 2
        )
        if full:
            self._close_shard()

    def _close_shard(self) -> None:
        assert self._shard is not None
        digest, size = self._shard.close()
        self._done.append((self._shard.path, self._shard.rows, digest, size))
        self._shard = None

    def _unspill(self) -> None:
        """Feed the spilled rows back in the seeded permutation of the split."""
        assert self._seed is not None and self._spill is not None
        self._spill.close()
        self._spill = None
        order = list(range(self.rows))
        random.Random(f"{self._seed}:{self.split}").shuffle(order)
        self._seed = None
        with pa.memory_map(str(self._spill_path)) as source:
            table = pa.ipc.open_file(source).read_all()
            step = 8192
            for start in range(0, len(order), step):
                chunk = table.take(pa.array(order[start : start + step], pa.int64()))
                for batch in chunk.combine_chunks().to_batches():
                    self._append(batch)
            del table
        self._spill_path.unlink()

    def finish(self) -> SplitEntry:
        if self._spill is not None:
            self._unspill()
        self._drain(final=True)
        if self._shard is not None or not self._done:  # the last (or the one empty) shard
            if self._shard is None:
                path = self._out / f".part-{len(self._done):05d}"
                self._shard = _ShardFile(path, self.schema, self.options)
            self._close_shard()
        entries = []
        for index, (path, rows, digest, size) in enumerate(self._done):
            name = shard_name(self.split, index, len(self._done), self.options.extension)
            final = self._out / name
            os.replace(path, final)
            entries.append(
                ShardEntry(path=f"{self.split}/{final.name}", rows=rows, bytes=size, sha256=digest)
            )
        if self.options.format is ShardFormat.mds:
            columns = mds.Columns(self.schema, self.options.shard_bytes)
            shards = [(e.path.rsplit("/", 1)[1], e.rows, e.bytes) for e in entries]
            mds.write_index(self._out, columns, shards)
        return SplitEntry(rows=self.rows, shards=entries)

    def abort(self) -> None:
        """Close open files (after a failure; the caller removes the folder)."""
        if self._spill is not None:
            self._spill.close()
            self._spill = None
        if self._shard is not None:
            self._shard.close()
            self._shard = None


def write_split(
    table: pa.Table,
    split: str,
    folder: Path,
    options: ShardOptions,
    shuffle_seed: int | None = None,
) -> SplitEntry:
    """Write `table` as the shards of `split` under `folder/<split>/`; returns its manifest entry
    (SplitWriter on one table)."""
    writer = SplitWriter(split, folder, table.schema, options, shuffle_seed)
    for batch in table.to_batches():
        writer.add(batch)
    return writer.finish()


# A split writer thread's queue holds this many batches: the reader blocks beyond that, which
# bounds memory whatever the dataset's size.
QUEUE_BATCHES = 4


class _SplitThread:
    """One split's SplitWriter in its own thread (pyarrow releases the GIL while it encodes,
    compresses and writes, so splits are written in parallel with each other and with reading)."""

    def __init__(self, writer: SplitWriter) -> None:
        self.writer = writer
        self.queue: queue.Queue[pa.RecordBatch | None] = queue.Queue(maxsize=QUEUE_BATCHES)
        self.error: BaseException | None = None
        self.entry: SplitEntry | None = None
        self.cancelled = False  # set by the reader when it fails: close, do not finish
        self.thread = threading.Thread(target=self._run, name=f"export-{writer.split}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        # After an error (or a cancel) batches are still taken off the queue, so that the reader
        # never blocks on a full one; they are dropped.
        while (batch := self.queue.get()) is not None:
            if self.error is None and not self.cancelled:
                try:
                    self.writer.add(batch)
                except BaseException as exc:  # reported by the reader, which stops
                    self.error = exc
        try:
            if self.error is None and not self.cancelled:
                self.entry = self.writer.finish()
        except BaseException as exc:
            self.error = exc
        if self.error is not None or self.cancelled:
            self.writer.abort()


def write_splits(
    batches: Iterable[pa.RecordBatch],
    folder: Path,
    schema: pa.Schema,
    options: ShardOptions,
    shuffle_seed: int | None = None,
    split_column: str = "split",
) -> dict[str, SplitEntry]:
    """Route a stream of rows to their split (the `split_column` value) and write every split's
    shards under `folder`, one thread per split; returns the manifest entries by split. A row
    goes to its split in stream order, so the same stream gives the same shards."""
    threads: dict[str, _SplitThread] = {}
    try:
        for batch in batches:
            column = batch.column(split_column)
            for value in pc.unique(column).drop_null().to_pylist():  # gold's split is not null
                part = batch.filter(pc.equal(column, value))
                if value not in threads:
                    writer = SplitWriter(value, folder, schema, options, shuffle_seed)
                    threads[value] = _SplitThread(writer)
                threads[value].queue.put(part)
            _raise_first(threads.values())
    except BaseException:
        for t in threads.values():
            t.cancelled = True  # no split is finished: the caller removes the folder
        raise
    finally:
        for t in threads.values():
            t.queue.put(None)
        for t in threads.values():
            t.thread.join()
    _raise_first(threads.values())
    return {split: t.entry for split, t in threads.items() if t.entry is not None}


def _raise_first(threads: Iterable[_SplitThread]) -> None:
    for t in threads:
        if t.error is not None:
            raise t.error


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
