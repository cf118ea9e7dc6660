"""A Spark Python data source for Delta tables, backed by delta-rs: the embedded lake bridge.

Used where Spark has no delta-spark jars (here, a laptop). Jobs never name it: they go
through `jobs/lake/spark_io`. Everything it writes is an ordinary Delta table.

Reading (planning runs in a Python worker next to the driver, reading in executors):
  - the Delta log (delta-rs) gives the data files of a snapshot (`version`), or only the files
    added after `after_version` (incremental reads of append-only tables);
  - predicates given as an option (`OPT_WHERE`: (column, op, value) triples, as
    `spark_io.read(where=...)` writes them) prune whole files: exactly on partition columns, by
    min/max/null-count statistics on other columns; `spark_io.read` also applies them with
    Spark, row by row, so the answer never depends on the pruning;
  - Spark's own filter pushdown into Python data sources stays off: in Spark 4.2 the reader
    planned with one query's pushed filters is kept by the relation and reused by a later query
    on the same DataFrame that pushes none, which then silently drops rows (measured:
    `df.filter("x IS NOT NULL").count()` then `df.count()` gave 1 and 1 on 3 rows, one non-null);
  - one input partition per file, or per group of small files (`max_partition_bytes`);
  - executors read Parquet through pyarrow's filesystems and yield Arrow record batches.

Writing:
  - every task writes its rows as Parquet files into the table directory and returns their
    Delta `add` actions (path, size, partition values, statistics) as its commit message;
  - the driver commits all of them as ONE Delta commit, with the app transactions
    (exactly-once bookmarks) and, for a replace, the removal of the files being rewritten;
  - a failed task deletes its files, `abort` deletes every successful task's files, and a killed
    job leaves only files no Delta commit references: readers never see partial output.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql.datasource import (
    DataSource,
    DataSourceArrowWriter,
    DataSourceReader,
    EqualTo,
    Filter,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    InputPartition,
    IsNotNull,
    IsNull,
    LessThan,
    LessThanOrEqual,
    WriterCommitMessage,
)
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
from pyspark.sql.types import StructType

from .files import (
    STATS_STRING_PREFIX,
    ParquetOptions,
    StagedFiles,
    WrittenFile,
    add_actions,
    delete_files,
    partition_string,
)

log = logging.getLogger("tracelake.delta_source")

SOURCE_NAME = "tracelake_delta"
# Option names. Storage options carry credentials: the key contains "secret" so Spark redacts
# the value wherever it prints options (spark.redaction.regex).
OPT_PATH = "path"
OPT_STORAGE = "storage_options_secret"
OPT_VERSION = "version"
OPT_AFTER_VERSION = "after_version"
OPT_FILES = "files"
OPT_FILE_COLUMN = "file_column"
OPT_MAX_PARTITION_BYTES = "max_partition_bytes"
OPT_MIN_PARTITIONS = "min_partitions"
OPT_APP_TXNS = "app_transactions"
OPT_REPLACE_FILES = "replace_files"
OPT_COMMIT_METADATA = "commit_metadata"
OPT_TARGET_FILE_ROWS = "target_file_rows"
OPT_FORCE = "force"  # commit even if the app transactions are already there (rebuilds)
OPT_WHERE = "where"  # JSON [[column, op, value], ...]: file pruning (see the module docstring)

DEFAULT_MAX_PARTITION_BYTES = 128 * 1024 * 1024
DEFAULT_TARGET_FILE_ROWS = 1_000_000
READ_BATCH_ROWS = 65_536


class DeltaSourceError(Exception):
    """Raised inside Spark workers; spark_io turns it into a TracelakeError for the caller."""


class AppendOnlyTableError(DeltaSourceError):
    """An overwrite or replace was attempted on an append-only table (bronze)."""


class ConcurrentRewriteError(DeltaSourceError):
    """A file this write replaces was removed by another writer since it was planned."""


# -- storage -------------------------------------------------------------------------------


def encode_storage_options(options: Mapping[str, str]) -> str:
    return base64.b64encode(json.dumps(dict(options)).encode()).decode()


def decode_storage_options(value: str | None) -> dict[str, str]:
    return json.loads(base64.b64decode(value)) if value else {}


Predicate = tuple[str, str, Any]
_OPS: dict[str, Any] = {
    "=": EqualTo,
    "<": LessThan,
    "<=": LessThanOrEqual,
    ">": GreaterThan,
    ">=": GreaterThanOrEqual,
    "in": In,
    "is null": IsNull,
    "is not null": IsNotNull,
}
PREDICATE_OPS = tuple(_OPS)


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, (list, tuple)):
        return [_encode_value(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot use a {type(value).__name__} as a predicate value: {value!r}")


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "datetime" in value:
            return dt.datetime.fromisoformat(value["datetime"])
        return dt.date.fromisoformat(value["date"])
    if isinstance(value, list):
        return tuple(_decode_value(v) for v in value)
    return value


def encode_where(predicates: Sequence[Predicate]) -> str:
    """(column, op, value) triples -> the `OPT_WHERE` option; ops are `PREDICATE_OPS`."""
    out = []
    for column, op, value in predicates:
        if op not in _OPS:
            raise ValueError(f"unknown predicate op {op!r}; use one of {', '.join(_OPS)}")
        out.append([column, op, _encode_value(value)])
    return json.dumps(out)


def decode_where(option: str | None) -> list[Filter]:
    filters: list[Filter] = []
    for column, op, value in json.loads(option) if option else []:
        cls = _OPS[op]
        if cls in (IsNull, IsNotNull):
            filters.append(cls((column,)))
        else:
            filters.append(cls((column,), _decode_value(value)))
    return filters


def _filesystem(table_uri: str, storage_options: Mapping[str, str]) -> tuple[Any, str]:
    from .store import pyarrow_filesystem

    return pyarrow_filesystem(table_uri, storage_options)


def _open_table(uri: str, storage_options: Mapping[str, str], version: int | None = None):
    from deltalake import DeltaTable

    return DeltaTable(uri, version=version, storage_options=dict(storage_options))


# -- planning a scan -----------------------------------------------------------------------


@dataclass(frozen=True)
class ScanFile:
    """One data file to read: path relative to the table (as in the log) and its partition."""

    path: str
    size: int
    num_records: int | None
    partition_values: dict[str, Any]


@dataclass
class ScanPlan:
    """What a read will touch: the files kept after pruning, and how many were skipped."""

    files: list[ScanFile]
    files_in_snapshot: int
    files_skipped_by_partition: int = 0
    files_skipped_by_stats: int = 0

    @property
    def files_skipped(self) -> int:
        return self.files_skipped_by_partition + self.files_skipped_by_stats


def _commit_actions(
    table_uri: str, storage_options: Mapping[str, str], after_version: int, version: int
) -> Iterator[dict[str, Any]] | None:
    """The actions of commits (after_version, version], read from the JSON commit files; None
    when one is gone (log cleanup), which callers treat as unknown."""
    fs, root = _filesystem(table_uri, storage_options)
    commits = []
    for v in range(after_version + 1, version + 1):
        try:
            with fs.open_input_stream(f"{root}/_delta_log/{v:020d}.json") as stream:
                commits.append(stream.read().splitlines())
        except FileNotFoundError:
            return None
    return (json.loads(line) for lines in commits for line in lines if line.strip())


def added_paths(
    table_uri: str,
    storage_options: Mapping[str, str],
    after_version: int,
    version: int,
) -> set[str] | None:
    """Paths of files added with dataChange in commits (after_version, version]; None if a
    commit file is gone (log cleanup) and the caller must diff snapshots instead."""
    actions = _commit_actions(table_uri, storage_options, after_version, version)
    if actions is None:
        return None
    added: set[str] = set()
    for action in actions:
        if "add" in action and action["add"].get("dataChange", True):
            added.add(action["add"]["path"])
        elif "remove" in action:
            added.discard(action["remove"]["path"])
    return added


def data_changed(
    table_uri: str,
    storage_options: Mapping[str, str],
    after_version: int,
    version: int,
) -> bool:
    """Whether a commit in (after_version, version] added or removed data. Compaction, VACUUM
    and property changes do not (their actions carry dataChange=false, or are not files); nor
    does a job commit that only moved its bookmark. True when a commit file is gone (log
    cleanup): unknown counts as changed."""
    actions = _commit_actions(table_uri, storage_options, after_version, version)
    if actions is None:
        return True
    return any(
        kind in action and action[kind].get("dataChange", True)
        for action in actions
        for kind in ("add", "remove")
    )


def plan_scan(
    table_uri: str,
    storage_options: Mapping[str, str],
    *,
    version: int | None = None,
    after_version: int | None = None,
    only_files: Sequence[str] | None = None,
    filters: Sequence[Filter] = (),
) -> ScanPlan:
    """List the files a read needs, pruned by partition values and file statistics."""
    table = _open_table(table_uri, storage_options, version)
    snapshot_version = table.version()
    partition_cols = list(table.metadata().partition_columns)
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    plan = ScanPlan(files=[], files_in_snapshot=len(actions))

    wanted: set[str] | None = None
    if after_version is not None:
        if after_version >= snapshot_version:
            wanted = set()
        else:
            wanted = added_paths(table_uri, storage_options, after_version, snapshot_version)
            if wanted is None:  # commit files expired: diff the two snapshots
                before = _open_table(table_uri, storage_options, after_version)
                old = set(pa.table(before.get_add_actions(flatten=True))["path"].to_pylist())
                wanted = {a["path"] for a in actions} - old
    if only_files is not None:
        keep = set(only_files)
        wanted = keep if wanted is None else wanted & keep

    for action in actions:
        if wanted is not None and action["path"] not in wanted:
            continue
        parts = {c: action.get(f"partition.{c}") for c in partition_cols}
        if not all(_partition_matches(f, parts) for f in filters if _column(f) in parts):
            plan.files_skipped_by_partition += 1
            continue
        if not all(_stats_may_match(f, action) for f in filters if _column(f) not in parts):
            plan.files_skipped_by_stats += 1
            continue
        plan.files.append(
            ScanFile(action["path"], action["size_bytes"], action["num_records"], parts)
        )
    plan.files.sort(key=lambda f: f.path)
    return plan


def group_files(
    files: Sequence[ScanFile], max_bytes: int, min_groups: int = 1
) -> list[list[ScanFile]]:
    """Pack files into read partitions of at most max_bytes (a larger file stays alone), and
    into at least min_groups partitions when there are enough files (every core gets work)."""
    total = sum(f.size for f in files)
    max_bytes = max(1, min(max_bytes, -(-total // max(1, min_groups))))
    groups: list[list[ScanFile]] = []
    current: list[ScanFile] = []
    size = 0
    for f in files:
        if current and size + f.size > max_bytes:
            groups.append(current)
            current, size = [], 0
        current.append(f)
        size += f.size
    if current:
        groups.append(current)
    return groups


def _column(f: Filter) -> str | None:
    attr = getattr(f, "attribute", None)
    return attr[0] if attr and len(attr) == 1 else None


def _coerce(value: Any, like: Any) -> Any:
    """Make a filter literal comparable with a partition value or statistic."""
    if isinstance(like, dt.datetime) and isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value
    if isinstance(like, dt.date) and not isinstance(like, dt.datetime):
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, str):
            return dt.date.fromisoformat(value)
    return value


def _partition_matches(f: Filter, parts: Mapping[str, Any]) -> bool:
    """Exact evaluation of a supported filter on a file's partition value."""
    value = parts[_column(f)]
    match f:
        case IsNull():
            return value is None
        case IsNotNull():
            return value is not None
    if value is None:
        return False
    try:
        match f:
            case EqualTo(value=lit):
                return value == _coerce(lit, value)
            case In(value=lits):
                return any(value == _coerce(v, value) for v in lits)
            case GreaterThan(value=lit):
                return value > _coerce(lit, value)
            case GreaterThanOrEqual(value=lit):
                return value >= _coerce(lit, value)
            case LessThan(value=lit):
                return value < _coerce(lit, value)
            case LessThanOrEqual(value=lit):
                return value <= _coerce(lit, value)
    except TypeError:
        return True
    return True


def _stats_may_match(f: Filter, action: Mapping[str, Any]) -> bool:
    """False only when the file's statistics prove no row can match."""
    col = _column(f)
    if col is None:
        return True
    lo, hi = action.get(f"min.{col}"), action.get(f"max.{col}")
    nulls, rows = action.get(f"null_count.{col}"), action.get("num_records")
    if isinstance(hi, dt.datetime):
        hi = hi + dt.timedelta(milliseconds=1)  # Delta stores timestamps truncated to ms
    if isinstance(hi, str) and len(hi) >= STATS_STRING_PREFIX:
        hi = None  # possibly a truncated prefix: not an upper bound
    try:
        match f:
            case IsNull():
                return nulls is None or nulls > 0
            case IsNotNull():
                return nulls is None or rows is None or nulls < rows
            case EqualTo(value=lit) if lit is not None:
                lit = _coerce(lit, lo if lo is not None else hi)
                return not ((lo is not None and lit < lo) or (hi is not None and lit > hi))
            case In(value=lits):
                return any(
                    _stats_may_match(EqualTo(f.attribute, v), action) for v in lits if v is not None
                )
            case GreaterThan(value=lit):
                return hi is None or hi > _coerce(lit, hi)
            case GreaterThanOrEqual(value=lit):
                return hi is None or hi >= _coerce(lit, hi)
            case LessThan(value=lit):
                return lo is None or lo < _coerce(lit, lo)
            case LessThanOrEqual(value=lit):
                return lo is None or lo <= _coerce(lit, lo)
    except TypeError:
        return True
    return True


# -- reading ---------------------------------------------------------------------------------


class DeltaInputPartition(InputPartition):
    def __init__(self, files: list[ScanFile]) -> None:
        super().__init__([f.path for f in files])
        self.files = files


class DeltaReader(DataSourceReader):
    def __init__(self, options: Mapping[str, str], schema: StructType, partition_cols: list[str]):
        self.uri = options[OPT_PATH]
        self.storage_options = decode_storage_options(options.get(OPT_STORAGE))
        self.version = int(options[OPT_VERSION]) if options.get(OPT_VERSION) else None
        self.after_version = (
            int(options[OPT_AFTER_VERSION]) if options.get(OPT_AFTER_VERSION) else None
        )
        self.only_files = json.loads(options[OPT_FILES]) if options.get(OPT_FILES) else None
        self.file_column = options.get(OPT_FILE_COLUMN) or None
        self.max_partition_bytes = int(
            options.get(OPT_MAX_PARTITION_BYTES) or DEFAULT_MAX_PARTITION_BYTES
        )
        self.min_partitions = int(options.get(OPT_MIN_PARTITIONS) or 1)
        self.schema = schema
        self.partition_cols = partition_cols
        self.pushed = decode_where(options.get(OPT_WHERE))  # prune files
        # pre-filter rows on data columns too (Spark applies every predicate again)
        self.row_filters = [f for f in self.pushed if _column(f) not in partition_cols]

    def plan(self) -> ScanPlan:
        return plan_scan(
            self.uri,
            self.storage_options,
            version=self.version,
            after_version=self.after_version,
            only_files=self.only_files,
            filters=self.pushed,
        )

    def partitions(self) -> list[DeltaInputPartition]:
        plan = self.plan()
        log.info(
            "scan %s: %d of %d files (%d pruned by partition, %d by statistics)",
            self.uri,
            len(plan.files),
            plan.files_in_snapshot,
            plan.files_skipped_by_partition,
            plan.files_skipped_by_stats,
        )
        groups = group_files(plan.files, self.max_partition_bytes, self.min_partitions)
        # Spark needs at least one partition; an empty one yields no rows.
        return [DeltaInputPartition(g) for g in groups] or [DeltaInputPartition([])]

    def read(self, partition: DeltaInputPartition) -> Iterator[pa.RecordBatch]:
        target = to_arrow_schema(self.schema, timezone="UTC")
        fs, root = _filesystem(self.uri, self.storage_options)
        expression = _row_expression(self.row_filters, target)
        for file in partition.files:
            yield from _read_file(fs, root, file, target, self.file_column, expression)


def _row_expression(filters: Sequence[Filter], schema: pa.Schema) -> pc.Expression | None:
    """The pushed data-column filters as an Arrow expression (a pre-filter; Spark re-checks)."""
    expr = None
    for f in filters:
        col = _column(f)
        if col not in schema.names:
            continue
        ref = pc.field(col)
        typ = schema.field(col).type
        try:
            match f:
                case EqualTo(value=lit) if lit is not None:
                    e = ref == pa.scalar(lit, typ)
                case In(value=lits):
                    e = ref.isin(pa.array([v for v in lits if v is not None], typ))
                case GreaterThan(value=lit):
                    e = ref > pa.scalar(lit, typ)
                case GreaterThanOrEqual(value=lit):
                    e = ref >= pa.scalar(lit, typ)
                case LessThan(value=lit):
                    e = ref < pa.scalar(lit, typ)
                case LessThanOrEqual(value=lit):
                    e = ref <= pa.scalar(lit, typ)
                case IsNull():
                    e = ref.is_null()
                case IsNotNull():
                    e = ref.is_valid()
                case _:
                    continue
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            continue
        expr = e if expr is None else expr & e
    return expr


def read_arrow(
    table_uri: str,
    storage_options: Mapping[str, str],
    files: Sequence[ScanFile],
    schema: pa.Schema,
    file_column: str | None = None,
    expression: pc.Expression | None = None,
) -> pa.Table:
    """Read files of a plan in this process (small reads where a Spark job costs more),
    keeping the rows that match `expression`."""
    fs, root = _filesystem(table_uri, storage_options)
    if file_column:
        schema = schema.append(pa.field(file_column, pa.string()))
    batches = [b for f in files for b in _read_file(fs, root, f, schema, file_column, expression)]
    return pa.Table.from_batches(batches, schema=schema)


def _repeat(value: Any, typ: pa.DataType) -> pa.Array:
    if value is None:
        return pa.nulls(READ_BATCH_ROWS, typ)
    return pa.array([value]).cast(typ).take(pa.array(np.zeros(READ_BATCH_ROWS, np.int32)))


def _read_file(
    fs: Any,
    root: str,
    file: ScanFile,
    target: pa.Schema,
    file_column: str | None,
    expression: pc.Expression | None,
) -> Iterator[pa.RecordBatch]:
    path = f"{root}/{unquote(file.path)}"
    with fs.open_input_file(path) as handle:
        parquet = pq.ParquetFile(handle)
        present = set(parquet.schema_arrow.names)
        data_cols = [n for n in target.names if n in present and n not in file.partition_values]
        # Columns with one value for the whole file, built once and sliced per batch.
        constants: dict[str, pa.Array] = {}
        for fld in target:
            if fld.name == file_column:
                constants[fld.name] = _repeat(file.path, fld.type)
            elif fld.name in file.partition_values:
                constants[fld.name] = _repeat(file.partition_values[fld.name], fld.type)
        for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS, columns=data_cols):
            n = batch.num_rows
            arrays = []
            for fld in target:
                if fld.name in constants:
                    arrays.append(constants[fld.name].slice(0, n))
                elif fld.name in present:
                    arrays.append(batch.column(fld.name).cast(fld.type))
                else:  # column added to the table after this file was written
                    arrays.append(pa.nulls(n, fld.type))
            out = pa.RecordBatch.from_arrays(arrays, schema=target)
            if expression is not None:
                out = pa.Table.from_batches([out]).filter(expression)
                for b in out.to_batches():
                    if b.num_rows:
                        yield b
            elif n:
                yield out


# -- writing -------------------------------------------------------------------------------


@dataclass
class DeltaCommitMessage(WriterCommitMessage):
    files: list[WrittenFile] = field(default_factory=list)


class DeltaWriter(DataSourceArrowWriter):
    def __init__(
        self,
        options: Mapping[str, str],
        table_schema: pa.Schema,
        partition_cols: list[str],
        overwrite: bool,
        append_only: bool,
    ) -> None:
        self.uri = options[OPT_PATH]
        self.storage_options = decode_storage_options(options.get(OPT_STORAGE))
        self.table_schema = table_schema
        self.partition_cols = partition_cols
        self.overwrite = overwrite
        self.app_txns = [tuple(t) for t in json.loads(options.get(OPT_APP_TXNS) or "[]")]
        self.replace_files: list[str] = json.loads(options.get(OPT_REPLACE_FILES) or "[]")
        self.commit_metadata: dict[str, Any] = json.loads(options.get(OPT_COMMIT_METADATA) or "{}")
        self.force = (options.get(OPT_FORCE) or "").lower() == "true"
        self.target_file_rows = int(options.get(OPT_TARGET_FILE_ROWS) or DEFAULT_TARGET_FILE_ROWS)
        if append_only and (overwrite or self.replace_files):
            raise AppendOnlyTableError(
                f"{self.uri} is append-only (delta.appendOnly=true): it can only be appended "
                "to, never overwritten or rewritten"
            )

    # executors --------------------------------------------------------------------------

    def write(self, iterator: Iterator[pa.RecordBatch]) -> DeltaCommitMessage:
        fs, root = _filesystem(self.uri, self.storage_options)
        staged = StagedFiles(
            fs,
            root,
            self.table_schema,
            self.partition_cols,
            ParquetOptions(),
            self.target_file_rows,
        )
        try:
            for batch in iterator:
                if batch.num_rows:
                    staged.write(_conform(pa.Table.from_batches([batch]), self.table_schema))
            return DeltaCommitMessage(files=staged.close())
        except BaseException:
            staged.discard()
            raise

    # driver -------------------------------------------------------------------------------

    def commit(self, messages: list[DeltaCommitMessage | None]) -> None:
        from deltalake.transaction import RemoveAction

        from .commits import commit_properties, committed_version

        written = [f for m in messages if m is not None for f in m.files]
        table = _open_table(self.uri, self.storage_options)
        try:
            for app_id, version in self.app_txns:
                seen = committed_version(table, app_id, version)
                if not self.force and seen is not None:
                    log.warning(
                        "%s already holds app transaction %s@%s; discarding this write",
                        self.uri,
                        app_id,
                        seen,
                    )
                    self._delete(written)
                    return
            actions: list[Any] = add_actions(written)
            if self.replace_files:
                current = {
                    a["path"]: a for a in pa.table(table.get_add_actions(flatten=True)).to_pylist()
                }
                now = int(time.time() * 1000)
                for path in self.replace_files:
                    if path not in current:
                        raise ConcurrentRewriteError(
                            f"{self.uri}: file {path} was removed by another writer while this "
                            "job ran; nothing was committed, run the job again"
                        )
                    actions.append(
                        RemoveAction(
                            path=path,
                            data_change=True,
                            deletion_timestamp=now,
                            size=current[path]["size_bytes"],
                            partition_values={
                                c: partition_string(current[path].get(f"partition.{c}"))
                                for c in self.partition_cols
                            },
                        )
                    )
            table.create_write_transaction(
                actions,
                mode="overwrite" if self.overwrite else "append",
                schema=self.table_schema,
                partition_by=self.partition_cols or None,
                commit_properties=commit_properties(self.commit_metadata, self.app_txns),
            )
        except BaseException:
            self._delete(written)
            raise

    def abort(self, messages: list[DeltaCommitMessage | None]) -> None:
        self._delete([f for m in messages if m is not None for f in m.files])

    def _delete(self, files: list[WrittenFile]) -> None:
        fs, root = _filesystem(self.uri, self.storage_options)
        delete_files(fs, root, files)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Spark's Arrow batches as the table's schema (column order, types, field names)."""
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise DeltaSourceError(
            f"the DataFrame lacks column(s) {', '.join(missing)} of the table's schema"
        )
    columns = [_cast(table.column(f.name), f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _cast(column: pa.ChunkedArray, typ: pa.DataType) -> pa.ChunkedArray:
    if column.type == typ:
        return column
    return column.cast(typ)


# -- the data source -------------------------------------------------------------------------


class DeltaDataSource(DataSource):
    """`spark.read.format("tracelake_delta").option("path", uri)`: see the module docstring."""

    @classmethod
    def name(cls) -> str:
        return SOURCE_NAME

    def _table(self):
        return _open_table(
            self.options[OPT_PATH], decode_storage_options(self.options.get(OPT_STORAGE))
        )

    def schema(self) -> StructType:
        arrow = pa.schema(self._table().schema().to_arrow())
        spark_schema = from_arrow_schema(arrow)
        if self.options.get(OPT_FILE_COLUMN):
            from pyspark.sql.types import StringType, StructField

            spark_schema = spark_schema.add(
                StructField(self.options[OPT_FILE_COLUMN], StringType())
            )
        return spark_schema

    def reader(self, schema: StructType) -> DeltaReader:
        return DeltaReader(self.options, schema, list(self._table().metadata().partition_columns))

    def writer(self, schema: StructType, overwrite: bool) -> DeltaWriter:
        table = self._table()
        config = table.metadata().configuration or {}
        return DeltaWriter(
            self.options,
            table_schema=pa.schema(table.schema().to_arrow()),
            partition_cols=list(table.metadata().partition_columns),
            overwrite=overwrite,
            append_only=str(config.get("delta.appendOnly", "false")).lower() == "true",
        )
