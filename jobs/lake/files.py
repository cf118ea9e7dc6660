"""Delta data files written with pyarrow, to be committed later as one transaction.

Used wherever writing the data and committing it happen at different times or places: Spark
executors write and the driver commits (`delta_source`), and bronze ingest writes each parsed
unit as it arrives and commits a whole batch at once (`ingest.writer`). Files that no commit
references are invisible to readers, so a writer that dies leaves nothing half-visible
(VACUUM removes the leftovers).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

log = logging.getLogger("tracelake.files")

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
STATS_STRING_PREFIX = 32  # Delta convention: string min/max truncated to a prefix


@dataclass
class WrittenFile:
    path: str  # relative to the table, URL-encoded as the Delta log wants it
    size: int
    partition_values: dict[str, str | None]
    num_records: int
    stats: str
    modification_time: int


def add_actions(files: Sequence[WrittenFile]) -> list[Any]:
    """The Delta `add` actions that make `files` part of a table."""
    from deltalake.transaction import AddAction

    return [
        AddAction(
            path=f.path,
            size=f.size,
            partition_values=f.partition_values,
            modification_time=f.modification_time,
            data_change=True,
            stats=f.stats,
        )
        for f in files
    ]


def delete_files(fs: Any, root: str, files: Sequence[WrittenFile]) -> None:
    """Best effort: uncommitted files are invisible anyway."""
    for f in files:
        try:
            fs.delete_file(f"{root}/{unquote(f.path)}")
        except Exception:
            log.debug("could not delete %s", f.path, exc_info=True)


def hive_escape(value: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.:+ " else f"%{ord(c):02X}" for c in value)


def partition_string(value: Any) -> str | None:
    """A partition value as the Delta log writes it."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _stat_value(value: Any, upper: bool) -> Any:
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if upper and value.microsecond % 1000:
            value = value + dt.timedelta(microseconds=1000 - value.microsecond % 1000)
        else:
            value = value - dt.timedelta(microseconds=value.microsecond % 1000)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return None
    return value


def file_stats(metadata: pq.FileMetaData, schema: pa.Schema) -> dict[str, Any]:
    """Delta statistics (numRecords, minValues, maxValues, nullCount) for the top-level
    primitive columns that have Parquet statistics, merged over row groups. Timestamps are
    widened to whole milliseconds and long strings keep only a minimum prefix, so the bounds
    never exclude a row."""
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    column_index = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
    for fld in schema:
        if pa.types.is_nested(fld.type) or fld.name not in column_index:
            continue
        i = column_index[fld.name]
        lo = hi = None
        null_count = 0
        exact = bounded = True
        for rg in range(metadata.num_row_groups):
            st = metadata.row_group(rg).column(i).statistics
            if st is None:
                exact = False
                break
            null_count += st.null_count or 0
            if st.has_min_max:
                lo = st.min if lo is None or st.min < lo else lo
                hi = st.max if hi is None or st.max > hi else hi
            elif (st.null_count or 0) < metadata.row_group(rg).num_rows:
                # Values without bounds (Parquet drops min/max of long strings): the other row
                # groups' bounds would exclude them, so this file gets none for the column.
                bounded = False
        if not exact:
            continue
        nulls[fld.name] = null_count
        if not bounded:
            continue
        if lo is not None and _stat_value(lo, False) is not None:
            if isinstance(lo, str):
                lo = lo[:STATS_STRING_PREFIX]
            mins[fld.name] = _stat_value(lo, False)
        truncated = isinstance(hi, str) and len(hi) > STATS_STRING_PREFIX
        if hi is not None and not truncated and _stat_value(hi, True) is not None:
            maxs[fld.name] = _stat_value(hi, True)
    return {
        "numRecords": metadata.num_rows,
        "minValues": mins,
        "maxValues": maxs,
        "nullCount": nulls,
    }


@dataclass(frozen=True)
class ParquetOptions:
    compression: str = "snappy"
    compression_level: int | None = None
    # Columns to keep min/max statistics for (None: all). Statistics cost time per value.
    statistics_columns: tuple[str, ...] | None = None
    # Columns written without dictionary encoding (values that rarely repeat).
    plain_columns: tuple[str, ...] = ()

    @property
    def suffix(self) -> str:
        return f"{self.compression}.parquet"


class PartitionFile:
    """One open Parquet file of one partition value; each write adds row groups."""

    def __init__(
        self, fs: Any, root: str, rel_dir: str, schema: pa.Schema, options: ParquetOptions
    ) -> None:
        name = f"part-{uuid.uuid4()}-c000.{options.suffix}"
        self.rel_path = f"{rel_dir}/{name}" if rel_dir else name
        self.full_path = f"{root}/{self.rel_path}"
        if rel_dir:
            fs.create_dir(f"{root}/{rel_dir}", recursive=True)
        self.collector: list[pq.FileMetaData] = []
        self.schema = schema
        stats_columns = options.statistics_columns
        self.writer = pq.ParquetWriter(
            self.full_path,
            schema,
            filesystem=fs,
            compression=options.compression,
            compression_level=options.compression_level,
            use_dictionary=[c for c in schema.names if c not in options.plain_columns]
            if options.plain_columns
            else True,
            write_statistics=True
            if stats_columns is None
            else [c for c in stats_columns if c in schema.names],
            metadata_collector=self.collector,
        )
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table)
        self.rows += table.num_rows

    def close(self, fs: Any, partition_values: dict[str, str | None]) -> WrittenFile:
        self.writer.close()
        metadata = self.collector[0]
        size = fs.get_file_info(self.full_path).size
        return WrittenFile(
            path=quote(self.rel_path, safe="/=-_.+:"),
            size=size,
            partition_values=partition_values,
            num_records=metadata.num_rows,
            stats=json.dumps(file_stats(metadata, self.schema)),
            modification_time=int(time.time() * 1000),
        )

    def abandon(self, fs: Any) -> None:
        try:
            self.writer.close()
            fs.delete_file(self.full_path)
        except Exception:
            log.debug("could not remove %s", self.full_path, exc_info=True)


def split_by_partition(
    table: pa.Table, partition_cols: Sequence[str]
) -> Iterator[tuple[tuple[str | None, ...], pa.Table]]:
    """(partition values as Delta strings, rows) for each partition value in `table`."""
    if not partition_cols:
        yield (), table
        return
    keys = pa.Table.from_arrays(
        [
            pc.cast(table.column(c), pa.string())
            if not pa.types.is_timestamp(table.column(c).type)
            else pa.array([partition_string(v) for v in table.column(c).to_pylist()], pa.string())
            for c in partition_cols
        ],
        names=list(partition_cols),
    )
    if len(partition_cols) == 1:
        # One stable sort and contiguous slices: a filter per value would scan the table
        # once per partition.
        encoded = keys.column(0).combine_chunks().dictionary_encode()
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        if encoded.null_count:
            codes = np.where(encoded.is_valid().to_numpy(zero_copy_only=False), codes, -1)
        values = encoded.dictionary.to_pylist()
        if len(values) + bool(encoded.null_count) == 1:
            yield ((values[0] if values and not encoded.null_count else None),), table
            return
        starts = np.concatenate(([0], np.flatnonzero(np.diff(codes)) + 1))
        if len(starts) == len(values) + bool(encoded.null_count):
            # Each value's rows are already together (events arrive in time order): slices,
            # no copy of the table.
            ends = np.append(starts[1:], len(codes))
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
                code = int(codes[start])
                yield ((None if code < 0 else values[code]),), table.slice(start, end - start)
            return
        order = np.argsort(codes, kind="stable")
        ordered = table.take(pa.array(order))
        sorted_codes = codes[order]
        bounds = np.flatnonzero(np.diff(sorted_codes)) + 1
        for start, end in zip(
            np.concatenate(([0], bounds)), np.concatenate((bounds, [len(order)])), strict=True
        ):
            code = int(sorted_codes[start])
            yield ((None if code < 0 else values[code]),), ordered.slice(start, end - start)
        return
    grouped = keys.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    groups = grouped.group_by(list(partition_cols)).aggregate([("__row", "list")])
    for row in groups.to_pylist():
        yield tuple(row[c] for c in partition_cols), table.take(pa.array(row["__row_list"]))


class StagedFiles:
    """Open data files of one table, one per partition value, taking rows until `close`.

    Nothing is visible until the caller commits the closed files' add actions; `discard`
    deletes everything written so far.
    """

    def __init__(
        self,
        fs: Any,
        root: str,
        schema: pa.Schema,
        partition_cols: Sequence[str],
        options: ParquetOptions,
        target_file_rows: int = 1_000_000,
    ) -> None:
        self.fs, self.root, self.schema = fs, root, schema
        self.partition_cols = list(partition_cols)
        self.options = options
        self.target_file_rows = target_file_rows
        self.data_schema = pa.schema([f for f in schema if f.name not in self.partition_cols])
        self._open: dict[tuple[str | None, ...], PartitionFile] = {}
        self.closed: list[WrittenFile] = []
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append rows (the table's columns, partition columns included)."""
        if table.schema != self.schema:
            table = table.select(self.schema.names).cast(self.schema)
        for key, part in split_by_partition(table, self.partition_cols):
            out = self._open.get(key)
            if out is None:
                rel_dir = "/".join(
                    f"{c}={HIVE_NULL if v is None else hive_escape(v)}"
                    for c, v in zip(self.partition_cols, key, strict=True)
                )
                out = self._open[key] = PartitionFile(
                    self.fs, self.root, rel_dir, self.data_schema, self.options
                )
            out.write(part.select(self.data_schema.names))
            self.rows += part.num_rows
            if out.rows >= self.target_file_rows:
                self.closed.append(out.close(self.fs, self._values(key)))
                del self._open[key]

    def _values(self, key: tuple[str | None, ...]) -> dict[str, str | None]:
        return dict(zip(self.partition_cols, key, strict=True))

    def close(self) -> list[WrittenFile]:
        """Finish every open file; returns all files written."""
        for key, out in self._open.items():
            self.closed.append(out.close(self.fs, self._values(key)))
        self._open.clear()
        return self.closed

    def read_back(self) -> pa.Table:
        """Everything written, in the table's schema (closes the open files first)."""
        parts = []
        for f in self.close():
            data = pq.read_table(f"{self.root}/{unquote(f.path)}", filesystem=self.fs)
            for c in self.partition_cols:
                typ = self.schema.field(c).type
                value = f.partition_values[c]
                data = data.append_column(
                    c,
                    pa.nulls(data.num_rows, typ)
                    if value is None
                    else pa.repeat(pa.scalar(value).cast(typ), data.num_rows),
                )
            parts.append(data.select(self.schema.names).cast(self.schema))
        return pa.concat_tables(parts) if parts else self.schema.empty_table()

    def discard(self) -> None:
        for out in self._open.values():
            out.abandon(self.fs)
        self._open.clear()
        delete_files(self.fs, self.root, self.closed)
        self.closed = []
        self.rows = 0
