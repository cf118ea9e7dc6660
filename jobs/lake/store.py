"""Delta I/O with delta-rs: the storage engine of the embedded default and of every writer
outside Spark (ingest, collectors).

Appends carry a Delta app transaction (`app_id`, `version`); an append whose transaction the
table already holds at that version or later is skipped, so a retried batch writes nothing twice.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from ..errors import (
    NotALakeError,
    StorageAuthError,
    StorageUnreachableError,
    TracelakeError,
    WriterFenceError,
)
from ..settings import Settings
from .catalog import TableSpec
from .commit_info import our_keys
from .commits import MAX_COMMIT_RETRIES, commit_properties, committed_version
from .files import ParquetOptions, StagedFiles, WrittenFile, add_actions

# Table properties that `Lake.ensure` brings an existing table in line with its spec. Only
# these: others are either fixed at creation or changed on purpose for a while (an erasure
# unlocks `delta.appendOnly` on bronze.events; re-locking it from a concurrent writer's `ensure`
# would break the erasure).
SYNCED_PROPERTIES = ("delta.setTransactionRetentionDuration",)


def translate_storage_error(exc: BaseException, where: str) -> TracelakeError | None:
    """Map an object-store failure to an actionable error, or None if it is something else."""
    text = str(exc)
    lowered = text.lower()
    if any(
        s in lowered
        for s in (
            "error sending request",
            "connection refused",
            "dns error",
            "tcp connect error",
            "failed to connect",
            "timed out",
            "connect error",
        )
    ):
        return StorageUnreachableError(
            f"cannot reach the object store for {where}: {_first_line(text)}. "
            "Check TRACELAKE_S3__ENDPOINT_URL / AWS_ENDPOINT_URL and that the server is up."
        )
    if any(
        s in lowered
        for s in (
            "invalidaccesskeyid",
            "signaturedoesnotmatch",
            "accessdenied",
            "access_denied",
            "forbidden",
        )
    ) or re.search(r"status(?: code)?\W{0,3}403\b", lowered):
        return StorageAuthError(
            f"the object store refused the credentials for {where}: {_first_line(text)}. "
            "Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or TRACELAKE_S3__*)."
        )
    if any(
        s in lowered
        for s in ("generic s3 error", "server returned non-2xx", "invalid xml", "invalid response")
    ):
        return StorageUnreachableError(
            f"the object store for {where} gave an answer no S3 server gives "
            f"({_status_of(text)}); check that TRACELAKE_S3__ENDPOINT_URL / AWS_ENDPOINT_URL "
            "points at an S3 server"
        )
    if "nosuchbucket" in lowered or "bucket does not exist" in lowered:
        return StorageUnreachableError(
            f"bucket for {where} does not exist: {_first_line(text)}. Create it first."
        )
    return None


_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")
_HTTP_STATUS = re.compile(r"\b([1-5]\d\d)\b[ -]+([A-Za-z][A-Za-z ]{1,40})")


def redact(text: str) -> str:
    """Text with credentials in URLs (`scheme://user:secret@host`) blanked out."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def _first_line(text: str) -> str:
    return redact(text.strip().splitlines()[0][:300]) if text.strip() else text


def _status_of(text: str) -> str:
    """The HTTP status an error text reports, for a one-line message ("404 Not Found")."""
    found = _HTTP_STATUS.search(text.split("non-2xx", 1)[-1])
    return f"HTTP {found.group(1)} {found.group(2).strip()}" if found else "not S3"


def _log_appears(table_dir: Path, wait_s: float = 2.0) -> bool:
    """Whether a `_delta_log` shows up in `table_dir` within `wait_s`: a writer creating the
    table concurrently makes the directory (and may write into it) before its first log
    entry, and that is a table being born, not a stray directory."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if (table_dir / "_delta_log").is_dir():
            return True
        time.sleep(0.05)
    return (table_dir / "_delta_log").is_dir()


@dataclass(frozen=True)
class DataFile:
    """One Parquet file of a Delta table version, with its partition values."""

    uri: str
    size_bytes: int
    num_records: int
    partition_values: dict[str, Any]
    modification_time: int = 0  # ms since the epoch, as the Delta log records it


def file_name(path: str) -> str:
    """A data file's name, the last part of its path or URI: unique within a table (writers name
    files by UUID), and the same whether the log holds it URL-encoded or not."""
    return unquote(path.rsplit("/", 1)[-1])


def pyarrow_filesystem(uri: str, storage_options: Mapping[str, str]) -> tuple[Any, str]:
    """A pyarrow filesystem and the path within it for a local path or s3:// URI.

    Reads go through pyarrow's own filesystems: reading through delta-rs's pyarrow dataset
    bridge aborts the interpreter at exit (delta-rs#2184, pola-rs/polars#24169).
    """
    if uri.startswith("s3://"):
        from ..ingest.sources import s3_filesystem

        return s3_filesystem(dict(storage_options)), uri.removeprefix("s3://")
    return pafs.LocalFileSystem(), uri.removeprefix("file://")


def read_data_file(
    file: DataFile, spec: TableSpec, columns: list[str], storage_options: Mapping[str, str]
) -> pa.Table:
    """Read one data file's columns, adding partition columns from the Delta log."""
    fs, path = pyarrow_filesystem(file.uri, storage_options)
    data_cols = [c for c in columns if c not in spec.partition_by]
    try:
        table = pq.read_table(path, columns=data_cols, filesystem=fs)
    except pa.ArrowInvalid:
        # A file written before a column was added to the table (schema evolution, e.g. the
        # landing ledger's `etag`): read what it has, the added columns are null.
        present = set(pq.read_schema(path, filesystem=fs).names)
        if all(c in present for c in data_cols):
            raise
        table = pq.read_table(path, columns=[c for c in data_cols if c in present], filesystem=fs)
        for col in data_cols:
            if col not in present:
                field = spec.schema.field(col)
                table = table.append_column(field, pa.nulls(table.num_rows, field.type))
        table = table.select(data_cols)
    # Files rewritten by a delta-rs MERGE (an erasure) hold string_view columns and other field
    # names and nullability: read every file as the table's schema, so that files concatenate.
    target = pa.schema([spec.schema.field(c) for c in data_cols])
    if not table.schema.equals(target):
        table = table.cast(target)
    for col in columns:
        if col in spec.partition_by:
            field = spec.schema.field(col)
            value = file.partition_values.get(col)
            array = (
                pa.nulls(table.num_rows, field.type)
                if value is None
                else pa.array([value] * table.num_rows).cast(field.type)
            )
            table = table.append_column(field, array)
    return table.select(columns)


# Rows per record batch of `iter_data_file`: about this many bytes of Arrow data. The export's
# shard bytes follow these batches (jobs/export/shards.py WRITER_LAYOUT names the value).
BATCH_BYTES = 16 * 1024 * 1024


def iter_data_file(
    file: DataFile,
    spec: TableSpec,
    columns: list[str],
    storage_options: Mapping[str, str],
    batch_bytes: int = BATCH_BYTES,
) -> Iterator[pa.RecordBatch]:
    """Stream one data file's columns as record batches of the table's schema (partition columns
    from the Delta log, columns the file predates as nulls), one row group in memory at a time:
    `read_data_file` without holding the file."""
    fs, path = pyarrow_filesystem(file.uri, storage_options)
    target = pa.schema([spec.schema.field(c) for c in columns])
    with fs.open_input_file(path) as source:
        parquet = pq.ParquetFile(source)
        present = set(parquet.schema_arrow.names)
        read = [c for c in columns if c not in spec.partition_by and c in present]
        meta = parquet.metadata
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        rows = max(64, min(1 << 16, int(batch_bytes * meta.num_rows / max(1, size))))
        for batch in parquet.iter_batches(batch_size=rows, columns=read):
            arrays = []
            for field in target:
                if field.name in spec.partition_by or field.name not in present:
                    value = file.partition_values.get(field.name)
                    array = (
                        pa.nulls(batch.num_rows, field.type)
                        if value is None
                        else pa.array([value] * batch.num_rows).cast(field.type)
                    )
                else:
                    array = batch.column(field.name)
                    if not array.type.equals(field.type):
                        array = array.cast(field.type)  # e.g. string_view from a MERGE
                arrays.append(array)
            yield pa.RecordBatch.from_arrays(arrays, schema=target)


@dataclass(frozen=True)
class Lake:
    """The lake: a root (local path or s3:// URI) and the storage options to reach it."""

    root: str
    storage_options: Mapping[str, str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Lake:
        root = settings.lake_root.rstrip("/")
        if "://" not in root:
            root = str(Path(root).expanduser().resolve())
        return cls(root=root, storage_options=dict(settings.lake_storage_options))

    @property
    def is_local(self) -> bool:
        return "://" not in self.root or self.root.startswith("file://")

    def uri(self, spec: TableSpec) -> str:
        return f"{self.root}/{spec.tier}/{spec.name}"

    def __repr__(self) -> str:  # never print storage options: they hold secrets
        return f"Lake({self.root!r})"

    # -- opening ---------------------------------------------------------------------------

    def _open(self, spec: TableSpec, version: int | None = None) -> DeltaTable | None:
        uri = self.uri(spec)
        if self.is_local:
            path = Path(uri)
            if Path(self.root).exists() and not Path(self.root).is_dir():
                raise NotALakeError(
                    f"lake root {self.root} is a file, not a directory; "
                    "point TRACELAKE_LAKE_ROOT at a directory"
                )
            if not (path / "_delta_log").is_dir():
                if path.exists() and any(path.iterdir()) and not _log_appears(path):
                    raise NotALakeError(
                        f"{uri} exists but is not a Delta table (no _delta_log); "
                        "is TRACELAKE_LAKE_ROOT pointing at the right place?"
                    )
                return None
        try:
            return DeltaTable(uri, version=version, storage_options=dict(self.storage_options))
        except TableNotFoundError:
            return None
        except (DeltaError, OSError) as exc:
            translated = translate_storage_error(exc, uri)
            if translated:
                raise translated from None
            if "not a delta table" in str(exc).lower() or "no files in log" in str(exc).lower():
                return None
            raise

    def table(self, spec: TableSpec, version: int | None = None) -> DeltaTable | None:
        """The Delta table, or None if it has not been created yet."""
        return self._open(spec, version)

    def ensure(self, spec: TableSpec) -> DeltaTable:
        """Open the table, creating it with its schema, partitioning and properties if needed.

        A table created before its spec gained one of the `SYNCED_PROPERTIES` is given it here,
        once, so that existing lakes follow the catalog without a migration step."""
        table = self._open(spec)
        if table is not None:
            return self._sync_properties(spec, table)
        if self.is_local:
            Path(self.uri(spec)).mkdir(parents=True, exist_ok=True)
        try:
            return DeltaTable.create(
                self.uri(spec),
                schema=spec.schema,
                mode="ignore",
                partition_by=list(spec.partition_by) or None,
                name=spec.qualified_name,
                description=spec.description,
                configuration=spec.configuration,
                storage_options=dict(self.storage_options),
            )
        except (DeltaError, OSError) as exc:
            translated = translate_storage_error(exc, self.uri(spec))
            if translated:
                raise translated from None
            # Another writer created it between our check and our create.
            table = self._open(spec)
            if table is None:
                raise
            return table

    def _sync_properties(self, spec: TableSpec, table: DeltaTable) -> DeltaTable:
        wanted = spec.configuration
        have = table.metadata().configuration or {}
        changes = {
            k: wanted[k] for k in SYNCED_PROPERTIES if k in wanted and have.get(k) != wanted[k]
        }
        if not changes:
            return table
        try:
            table.alter.set_table_properties(changes)
        except (DeltaError, OSError) as exc:
            translated = translate_storage_error(exc, self.uri(spec))
            if translated:
                raise translated from None
            # Another writer changed the metadata first: fine if it set the same values.
            table = self._open(spec) or table
            have = table.metadata().configuration or {}
            if any(have.get(k) != v for k, v in changes.items()):
                raise
        return table

    def add_missing_columns(self, spec: TableSpec) -> list[str]:
        """Give a table created before its schema gained columns those columns (nullable; old
        rows read them as null). Returns the names added. Only for nullable added columns:
        a required one has no value for the old rows."""
        table = self._open(spec)
        if table is None:
            return []
        have = {f.name for f in table.schema().fields}
        missing = [f for f in spec.schema if f.name not in have]
        if not missing:
            return []
        from deltalake.schema import Field

        try:
            table.alter.add_columns([Field.from_arrow(f.with_nullable(True)) for f in missing])
        except DeltaError:  # another writer added them first
            table = self._open(spec)
            have = {f.name for f in table.schema().fields} if table is not None else set()
            if any(f.name not in have for f in missing):
                raise
        return [f.name for f in missing]

    def version(self, spec: TableSpec) -> int | None:
        table = self._open(spec)
        return None if table is None else table.version()

    def txn_version(self, spec: TableSpec, app_id: str) -> int | None:
        table = self._open(spec)
        return None if table is None else table.transaction_version(app_id)

    # -- writing ---------------------------------------------------------------------------

    def append(
        self,
        spec: TableSpec,
        data: pa.Table,
        *,
        app_txn: tuple[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
        fence: tuple[str, int] | None = None,
    ) -> int | None:
        """Append `data` in one commit. Returns the new table version, or None when the app
        transaction shows this batch was already committed (nothing is written then).

        `fence` is a second app transaction shared by cooperating writers: when another writer
        commits the same fence first, this append fails with WriterFenceError and writes
        nothing, so the caller can re-read and decide again."""
        table = self.ensure(spec)
        if not self._may_commit(spec, table, app_txn, fence):
            return None
        data = data.select(spec.schema.names).cast(spec.schema)
        return self._commit(
            spec,
            table,
            fence,
            lambda commit: write_deltalake(
                table,
                data,
                mode="append",
                partition_by=list(spec.partition_by) or None,
                commit_properties=commit,
            ),
            self._commit_properties(app_txn, fence, metadata),
        )

    def stage(self, spec: TableSpec, target_file_rows: int = 1_000_000) -> StagedFiles:
        """Open data files for `spec` that become visible only through `commit_files`.

        Written with pyarrow (snappy, statistics only for the table's data-skipping columns, no
        dictionary for its plain columns), which costs about half the CPU of a delta-rs write."""
        self.ensure(spec)
        stats = spec.properties.get("delta.dataSkippingStatsColumns")
        fs, root = pyarrow_filesystem(self.uri(spec), self.storage_options)
        return StagedFiles(
            fs,
            root,
            spec.schema,
            spec.partition_by,
            ParquetOptions(
                statistics_columns=tuple(stats.split(",")) if stats else None,
                plain_columns=spec.plain_columns,
            ),
            target_file_rows,
        )

    def commit_files(
        self,
        spec: TableSpec,
        files: list[WrittenFile],
        *,
        app_txn: tuple[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
        fence: tuple[str, int] | None = None,
    ) -> int | None:
        """Commit staged files as one append, with `append`'s app transaction and fence
        semantics. Returns the new version, or None when the app transaction was already
        committed (the caller then discards its files)."""
        table = self.ensure(spec)
        if not self._may_commit(spec, table, app_txn, fence):
            return None
        actions = add_actions(files)
        return self._commit(
            spec,
            table,
            fence,
            lambda commit: table.create_write_transaction(
                actions,
                mode="append",
                schema=spec.schema,
                partition_by=list(spec.partition_by) or None,
                commit_properties=commit,
            ),
            self._commit_properties(app_txn, fence, metadata),
        )

    def _may_commit(
        self,
        spec: TableSpec,
        table: DeltaTable,
        app_txn: tuple[str, int] | None,
        fence: tuple[str, int] | None,
    ) -> bool:
        if app_txn is not None and committed_version(table, *app_txn) is not None:
            return False
        if fence is not None and (table.transaction_version(fence[0]) or 0) != fence[1] - 1:
            raise WriterFenceError(f"another writer committed to {self.uri(spec)} first")
        return True

    @staticmethod
    def _commit_properties(
        app_txn: tuple[str, int] | None,
        fence: tuple[str, int] | None,
        metadata: Mapping[str, Any] | None,
    ) -> CommitProperties:
        return commit_properties(metadata, [t for t in (app_txn, fence) if t])

    def _commit(
        self,
        spec: TableSpec,
        table: DeltaTable,
        fence: tuple[str, int] | None,
        write: Callable[[CommitProperties], None],
        commit: CommitProperties,
    ) -> int:
        try:
            write(commit)
        except CommitFailedError as exc:
            if fence is not None and "concurrent transaction" in str(exc).lower():
                raise WriterFenceError(
                    f"another writer committed to {self.uri(spec)} first"
                ) from None
            raise TracelakeError(
                f"could not commit to {self.uri(spec)} after {MAX_COMMIT_RETRIES} retries "
                f"(too many concurrent writers?): {_first_line(str(exc))}"
            ) from None
        except (DeltaError, OSError) as exc:
            translated = translate_storage_error(exc, self.uri(spec))
            if translated:
                raise translated from None
            raise
        table.update_incremental()
        return table.version()

    # -- reading ---------------------------------------------------------------------------

    def files(
        self,
        spec: TableSpec,
        *,
        partitions: list[tuple[str, str, Any]] | None = None,
        version: int | None = None,
    ) -> list[DataFile]:
        """The data files of a table version, pruned by partition filters (delta-rs syntax:
        `[("event_date", "in", ["2026-01-01"])]`)."""
        table = self._open(spec, version)
        if table is None:
            return []
        uris = table.file_uris(partition_filters=partitions) if partitions else table.file_uris()
        actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
        by_path = {}
        for action in actions:
            by_path[action["path"].rsplit("/", 1)[-1]] = action
        out = []
        for uri in uris:
            action = by_path[uri.rsplit("/", 1)[-1]]
            values = {col: action.get(f"partition.{col}") for col in spec.partition_by}
            out.append(
                DataFile(
                    uri,
                    action["size_bytes"],
                    action["num_records"],
                    values,
                    int(action.get("modification_time") or 0),
                )
            )
        return out

    def read(
        self,
        spec: TableSpec,
        *,
        columns: Iterable[str] | None = None,
        partitions: list[tuple[str, str, Any]] | None = None,
        version: int | None = None,
    ) -> pa.Table:
        """Read a table (or an empty table of its schema if it does not exist yet)."""
        cols = list(columns) if columns is not None else list(spec.schema.names)
        schema = pa.schema([spec.schema.field(c) for c in cols])
        parts = [
            read_data_file(f, spec, cols, self.storage_options)
            for f in self.files(spec, partitions=partitions, version=version)
        ]
        if not parts:
            return schema.empty_table()
        return pa.concat_tables(parts).cast(schema)

    def count(self, spec: TableSpec) -> int:
        table = self._open(spec)
        return 0 if table is None else table.count()

    def history(self, spec: TableSpec, limit: int = 10) -> list[dict[str, Any]]:
        """Commit infos, newest first. Native Delta writes carry our keys in `userMetadata`
        (JSON); they are lifted to the top level, where the bridge and delta-rs write them."""
        table = self._open(spec)
        if table is None:
            return []
        return [our_keys(info) for info in table.history(limit)]

    def commit_actions(self, spec: TableSpec, version: int) -> list[dict[str, Any]] | None:
        """The actions of one commit, read from its JSON commit file; None when the file is gone
        (log cleanup keeps only recent commits: callers treat that as unknown)."""
        fs, root = pyarrow_filesystem(self.uri(spec), self.storage_options)
        try:
            with fs.open_input_stream(f"{root}/_delta_log/{version:020d}.json") as stream:
                lines = stream.read().splitlines()
        except FileNotFoundError:
            return None
        return [json.loads(line) for line in lines if line.strip()]

    def file_names(self, spec: TableSpec, version: int) -> set[str] | None:
        """The names (last path part) of a table version's data files; None when the table
        cannot be opened at that version."""
        table = self._open(spec, version)
        if table is None:
            return None
        paths = pa.table(table.get_add_actions(flatten=True))["path"].to_pylist()
        return {file_name(p) for p in paths}
