"""The lake bridge for Spark: jobs read and write lake tables only through `read` and `write`.

    events = spark_io.read(spark, "bronze.events", lake=ctx.lake, after_version=7)
    spark_io.write(runs, "silver.runs", lake=ctx.lake, mode="append", app_txn=("project_runs", 9))

No job names a format. Where the delta-spark jars are on the classpath (a cluster), plain reads
and writes use Spark's native `delta` format; everything else (and everything here, where the
jars are absent) goes through the embedded delta-rs data source in `delta_source`. Both produce
ordinary Delta tables. Reads that need what only the embedded source offers (files added
between versions, a subset of files, the file a row came from) and writes that replace files
always use the embedded source; it runs on clusters too.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import random
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..errors import (
    AppendOnlyViolationError,
    ConcurrentWriteError,
    JobFailedError,
    TableNotFoundError,
    TracelakeError,
)
from . import catalog
from .catalog import TableSpec
from .delta_source import (
    OPT_AFTER_VERSION,
    OPT_APP_TXNS,
    OPT_COMMIT_METADATA,
    OPT_FILE_COLUMN,
    OPT_FILES,
    OPT_FORCE,
    OPT_MAX_PARTITION_BYTES,
    OPT_MIN_PARTITIONS,
    OPT_PATH,
    OPT_REPLACE_FILES,
    OPT_STORAGE,
    OPT_TARGET_FILE_ROWS,
    OPT_VERSION,
    OPT_WHERE,
    PREDICATE_OPS,
    SOURCE_NAME,
    ConcurrentRewriteError,
    DeltaDataSource,
    Predicate,
    encode_storage_options,
    encode_where,
)
from .store import Lake

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

WRITE_MODES = ("append", "overwrite")
WRITE_ID_KEY = "tracelake.write_id"
# Errors raised inside Spark's Python workers reach the driver as text; these are ours.
_WORKER_ERROR = re.compile(r"(AppendOnlyTableError|ConcurrentRewriteError|DeltaSourceError): (.+)")
# The JVM exception behind a Py4J error: its second line reads ": some.java.Exception: message".
_JAVA_ERROR = re.compile(r"^:?\s*((?:[\w$]+\.)+[\w$]*(?:Exception|Error)): (.+)$", re.MULTILINE)
# Delta's optimistic-concurrency failures: another commit won the version this write read, and
# nothing of ours was committed, so trying again from the new version is safe.
_DELTA_CONFLICTS = (
    "MetadataChangedException",
    "ProtocolChangedException",
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
)
NATIVE_COMMIT_ATTEMPTS = 5


@dataclass(frozen=True)
class WriteOutcome:
    """What one write committed: the new version (None if nothing was committed, e.g. the app
    transaction showed it was already done) and the files and rows it added and removed."""

    version: int | None
    files_added: int = 0
    rows_added: int = 0
    files_removed: int = 0


def register_data_source(spark: SparkSession) -> None:
    """Make the embedded source available to `spark` (idempotent)."""
    if not getattr(spark, "_tracelake_source_registered", False):
        spark.dataSource.register(DeltaDataSource)
        spark._tracelake_source_registered = True  # type: ignore[attr-defined]


def _spec(table: str | TableSpec) -> TableSpec:
    return table if isinstance(table, TableSpec) else catalog.get(table)


def _lake(lake: Lake | None) -> Lake:
    if lake is not None:
        return lake
    from ..settings import default_settings

    return Lake.from_settings(default_settings())


def spark_schema(schema: pa.Schema, file_column: str | None = None) -> StructType:
    from pyspark.sql.pandas.types import from_arrow_schema
    from pyspark.sql.types import StringType, StructField

    struct = from_arrow_schema(schema)
    if file_column:
        struct = struct.add(StructField(file_column, StringType(), False))
    return struct


def from_arrow(spark: SparkSession, table: pa.Table) -> DataFrame:
    """A DataFrame holding an Arrow table's rows, with the table's schema. Spark cannot convert
    a table without chunks (what reading zero files gives), so an empty one becomes an empty
    frame of the same schema."""
    schema = spark_schema(table.schema)
    if table.num_rows == 0:
        return spark.createDataFrame([], schema)
    return spark.createDataFrame(table, schema=schema)


def to_arrow(df: DataFrame, schema: pa.Schema) -> pa.Table:
    """A small DataFrame's rows brought to the driver as an Arrow table of `schema` (one Spark
    execution; for results that a job then writes from the driver, see `write`)."""
    return df.select(*schema.names).toArrow().cast(schema)


# Lets one session (with the Delta extension) run a job on either engine: the golden tests
# compare both in one JVM. None: the session's engine (spark.delta).
_engine_override: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tracelake_delta_engine", default=None
)


@contextlib.contextmanager
def using_engine(engine: str) -> Iterator[None]:
    """Run reads and writes inside the block on `engine` ("native" or "bridge")."""
    if engine not in ("native", "bridge"):
        raise TracelakeError(f"Delta engine must be native or bridge, not {engine!r}")
    token = _engine_override.set(engine)
    try:
        yield
    finally:
        _engine_override.reset(token)


def _native(spark: SparkSession) -> bool:
    from ..spark import delta_engine, native_delta_available

    wanted = _engine_override.get()
    if wanted is None:
        return delta_engine(spark) == "native"
    if wanted == "native" and not native_delta_available(spark):
        raise TracelakeError(
            "native Delta was asked for but this Spark session has no delta-spark jars "
            "(run `make native-jars`)"
        )
    return wanted == "native"


def is_native(spark: SparkSession) -> bool:
    """Whether reads and writes here go through native Delta (the session's engine, or the
    `using_engine` block around the call)."""
    return _native(spark)


def configure_s3a(spark: SparkSession, lake: Lake) -> None:
    """Give Hadoop's S3A the lake's endpoint and credentials, per bucket (one session may
    serve several lakes). Idempotent; a no-op for local lakes."""
    if not lake.root.startswith("s3://"):
        return
    bucket = lake.root.removeprefix("s3://").split("/", 1)[0]
    options = lake.storage_options
    conf = spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    prefix = f"fs.s3a.bucket.{bucket}."
    values = {
        "endpoint": options.get("AWS_ENDPOINT_URL"),
        "endpoint.region": options.get("AWS_REGION"),
        "access.key": options.get("AWS_ACCESS_KEY_ID"),
        "secret.key": options.get("AWS_SECRET_ACCESS_KEY"),
        "session.token": options.get("AWS_SESSION_TOKEN"),
        "path.style.access": "true" if options.get("AWS_ENDPOINT_URL") else None,
        "connection.ssl.enabled": (
            "false" if options.get("AWS_ENDPOINT_URL", "").startswith("http://") else None
        ),
    }
    for key, value in values.items():
        if value:
            conf.set(prefix + key, value)
    if options.get("AWS_ACCESS_KEY_ID"):
        conf.set(
            prefix + "aws.credentials.provider",
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
            if not options.get("AWS_SESSION_TOKEN")
            else "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider",
        )


def native_uri(uri: str) -> str:
    """Hadoop's S3 connector answers to s3a://, delta-rs and pyarrow to s3://."""
    return "s3a://" + uri.removeprefix("s3://") if uri.startswith("s3://") else uri


def read(
    spark: SparkSession,
    table: str | TableSpec,
    *,
    lake: Lake | None = None,
    columns: Sequence[str] | None = None,
    version: int | None = None,
    after_version: int | None = None,
    files: Sequence[str] | None = None,
    file_column: str | None = None,
    max_partition_bytes: int | None = None,
    where: Sequence[Predicate] = (),
) -> DataFrame:
    """A DataFrame over a lake table.

    version: the snapshot to read (time travel); default the latest.
    after_version: only rows of files added after this version (append-only sources:
        exactly the rows committed in (after_version, version]).
    columns: the columns to read (others are never fetched).
    files: only these data files (paths relative to the table, as `file_column` reports them).
    file_column: add a string column holding each row's data file path.
    where: (column, op, value) predicates, all of which a row must meet; op is one of
        `PREDICATE_OPS` (`in` takes a list). On the bridge they also prune files by partition
        value and statistics. Filter with them rather than `.where()` on the result to get the
        pruning: Spark's pushdown into the bridge is off (see `delta_source`).
    """
    spec = _spec(table)
    lake = _lake(lake)
    current = lake.version(spec)
    if current is None:
        raise TableNotFoundError(
            f"table {spec.qualified_name} does not exist yet at {lake.uri(spec)}; "
            "run the job that creates it first (for bronze: `tracelake ingest`)"
        )
    if version is not None and not 0 <= version <= current:
        raise TracelakeError(
            f"{spec.qualified_name} has versions 0..{current}; cannot read version {version}"
        )
    cols = list(columns) if columns is not None else list(spec.schema.names)
    unknown = [c for c in cols if c not in spec.schema.names]
    if unknown:
        raise TracelakeError(
            f"{spec.qualified_name} has no column(s) {', '.join(unknown)}; "
            f"columns: {', '.join(spec.schema.names)}"
        )
    bad = [p for p in where if p[0] not in spec.schema.names or p[1] not in PREDICATE_OPS]
    if bad:
        raise TracelakeError(
            f"cannot filter {spec.qualified_name} by {bad}: columns are "
            f"{', '.join(spec.schema.names)}; ops are {', '.join(PREDICATE_OPS)}"
        )
    read_cols = cols + [p[0] for p in where if p[0] not in cols]
    schema = pa.schema([spec.schema.field(c) for c in read_cols])
    embedded_only = after_version is not None or files is not None or file_column
    if _native(spark) and not embedded_only:
        configure_s3a(spark, lake)
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        df = reader.load(native_uri(lake.uri(spec)))
        return _apply_where(df, where).select(*cols)

    register_data_source(spark)
    options: dict[str, str] = {
        OPT_PATH: lake.uri(spec),
        OPT_STORAGE: encode_storage_options(lake.storage_options),
        OPT_VERSION: str(version if version is not None else current),
    }
    if after_version is not None:
        options[OPT_AFTER_VERSION] = str(after_version)
    if files is not None:
        options[OPT_FILES] = json.dumps(list(files))
    if file_column:
        options[OPT_FILE_COLUMN] = file_column
    if where:
        options[OPT_WHERE] = encode_where(where)
    if max_partition_bytes:
        options[OPT_MAX_PARTITION_BYTES] = str(max_partition_bytes)
    else:  # small tables still spread over every core
        options[OPT_MIN_PARTITIONS] = str(spark.sparkContext.defaultParallelism)
    reader = spark.read.format(SOURCE_NAME).schema(spark_schema(schema, file_column))
    out = _apply_where(reader.options(**options).load(), where)
    return out.select(*cols, *([file_column] if file_column else [])) if where else out


def _apply_where(df: DataFrame, where: Sequence[Predicate]) -> DataFrame:
    """The predicates as Spark filters: the exact answer, whatever the files pruned."""
    from pyspark.sql import functions as F

    for column, op, value in where:
        col = F.col(column)
        match op:
            case "=":
                df = df.where(col == F.lit(value))
            case "<":
                df = df.where(col < F.lit(value))
            case "<=":
                df = df.where(col <= F.lit(value))
            case ">":
                df = df.where(col > F.lit(value))
            case ">=":
                df = df.where(col >= F.lit(value))
            case "in":
                df = df.where(col.isin(list(value)))
            case "is null":
                df = df.where(col.isNull())
            case "is not null":
                df = df.where(col.isNotNull())
    return df


def write(
    df: DataFrame | pa.Table,
    table: str | TableSpec,
    *,
    lake: Lake | None = None,
    mode: str = "append",
    app_txn: tuple[str, int] | Iterable[tuple[str, int]] | None = None,
    replace_files: Sequence[str] | None = None,
    metadata: dict[str, Any] | None = None,
    target_file_rows: int | None = None,
    force: bool = False,
) -> WriteOutcome:
    """Write `df` to a lake table in ONE Delta commit.

    df: a DataFrame, or an Arrow table for a result the driver already holds (a few thousand
        rows computed in this process): that one is committed from here on either engine,
        without a Spark job (a Spark write of 50 rows costs about a second, native Delta's
        snapshot rebuilds included), with the same semantics as the embedded writer.
    mode: "append" or "overwrite" (overwrite only for derived tables, never append-only ones).
    app_txn: (app_id, version) pairs committed atomically with the data; when the table already
        holds an app_id at that version or later, nothing is written (exactly once).
    replace_files: data files (as `read(..., file_column=...)` reports them) removed in the same
        commit: how a job rewrites the rows it recomputed (append mode only).
    force: commit even if the app transactions are already there (a rebuild recomputes what
        the bookmarks say is done).
    """
    spec = _spec(table)
    lake = _lake(lake)
    if mode not in WRITE_MODES:
        raise TracelakeError(f"write mode must be one of {', '.join(WRITE_MODES)}, not {mode!r}")
    if spec.append_only and (mode != "append" or replace_files):
        raise AppendOnlyViolationError(
            f"{spec.qualified_name} is append-only: it can be appended to but never "
            "overwritten or rewritten (rebuild derived tables instead)"
        )
    if replace_files and mode != "append":
        raise TracelakeError("replace_files needs mode='append' (an overwrite replaces all)")
    txns = _txns(app_txn)
    lake.ensure(spec)
    before = lake.version(spec)
    if not force and _txns_committed(lake, spec, txns):
        return WriteOutcome(version=None)

    # Marks our commit in the log, so the outcome is ours even if others commit meanwhile.
    write_id = uuid.uuid4().hex
    if isinstance(df, pa.Table):
        try:
            _write_in_driver(
                df.select(spec.schema.names),
                _embedded_options(
                    spec, lake, txns, replace_files, metadata, write_id, target_file_rows, force
                ),
                overwrite=mode == "overwrite",
            )
        except TracelakeError:
            raise
        except ConcurrentRewriteError as exc:
            raise ConcurrentWriteError(str(exc)) from exc
        except Exception as exc:
            raise _translate(exc, spec) from exc
        return _outcome(lake, spec, before, write_id)
    df = df.select(*spec.schema.names)
    try:
        # Delta's native idempotent write skips a txn version it has seen, which a rebuild
        # (force) must not do: that case, and multi-bookmark commits, take the embedded path.
        if _native(df.sparkSession) and not replace_files and len(txns) <= 1 and not force:
            configure_s3a(df.sparkSession, lake)
            if not _write_native_retrying(df, spec, lake, mode, txns, write_id, metadata):
                return WriteOutcome(version=None)
        else:
            register_data_source(df.sparkSession)
            options = _embedded_options(
                spec, lake, txns, replace_files, metadata, write_id, target_file_rows, force
            )
            df.write.format(SOURCE_NAME).mode(mode).options(**options).save()
    except TracelakeError:
        raise
    except Exception as exc:
        raise _translate(exc, spec) from exc
    return _outcome(lake, spec, before, write_id)


def _txns(app_txn: tuple[str, int] | Iterable[tuple[str, int]] | None) -> list[tuple[str, int]]:
    if app_txn is None:
        return []
    if isinstance(app_txn, tuple) and len(app_txn) == 2 and isinstance(app_txn[0], str):
        return [(app_txn[0], int(app_txn[1]))]  # type: ignore[arg-type]
    return [(str(a), int(v)) for a, v in app_txn]  # type: ignore[misc]


def _write_native_retrying(
    df: DataFrame,
    spec: TableSpec,
    lake: Lake,
    mode: str,
    txns: list[tuple[str, int]],
    write_id: str,
    metadata: dict[str, Any] | None,
) -> bool:
    """`_write_native`, tried again when another commit won the race (Delta's conflict
    exceptions); False when, meanwhile, another writer committed this write's app transaction."""
    for attempt in range(1, NATIVE_COMMIT_ATTEMPTS + 1):
        try:
            _write_native(df, spec, lake, mode, txns, write_id, metadata)
            return True
        except Exception as exc:
            if attempt == NATIVE_COMMIT_ATTEMPTS or not _is_delta_conflict(exc):
                raise
        if _txns_committed(lake, spec, txns):
            return False
        time.sleep(random.uniform(0.05, 0.2) * attempt)  # spread out the writers that collided
    return True


def _txns_committed(lake: Lake, spec: TableSpec, txns: list[tuple[str, int]]) -> bool:
    """Whether the table already holds one of these app transactions at that version or later."""
    for app_id, version in txns:
        seen = lake.txn_version(spec, app_id)
        if seen is not None and seen >= version:
            return True
    return False


def _is_delta_conflict(exc: BaseException) -> bool:
    match = _JAVA_ERROR.search(str(exc))
    return match is not None and match.group(1).rsplit(".", 1)[-1] in _DELTA_CONFLICTS


def _write_native(
    df: DataFrame,
    spec: TableSpec,
    lake: Lake,
    mode: str,
    txns: list[tuple[str, int]],
    write_id: str,
    metadata: dict[str, Any] | None = None,
) -> None:
    from .commit_info import custom_metadata

    writer = df.write.format("delta").mode(mode)
    if txns:  # Delta's idempotent writes: one app id per write
        writer = writer.option("txnAppId", txns[0][0]).option("txnVersion", str(txns[0][1]))
    # Marks the commit as ours (commitInfo.userMetadata), like the bridge's write id, with the
    # caller's metadata (the job, the versions read), which the bridge writes as commitInfo keys.
    user = {**custom_metadata(metadata), WRITE_ID_KEY: write_id}
    writer = writer.option("userMetadata", json.dumps(user))
    writer.save(native_uri(lake.uri(spec)))


def _embedded_options(
    spec: TableSpec,
    lake: Lake,
    txns: list[tuple[str, int]],
    replace_files: Sequence[str] | None,
    metadata: dict[str, Any] | None,
    write_id: str,
    target_file_rows: int | None,
    force: bool,
) -> dict[str, str]:
    """The embedded writer's options for one write."""
    options = {
        OPT_PATH: lake.uri(spec),
        OPT_STORAGE: encode_storage_options(lake.storage_options),
        OPT_APP_TXNS: json.dumps(txns),
        OPT_REPLACE_FILES: json.dumps(list(replace_files or [])),
        OPT_COMMIT_METADATA: json.dumps({**(metadata or {}), WRITE_ID_KEY: write_id}, default=str),
    }
    if target_file_rows:
        options[OPT_TARGET_FILE_ROWS] = str(target_file_rows)
    if force:
        options[OPT_FORCE] = "true"
    return options


def _write_in_driver(table: pa.Table, options: dict[str, str], *, overwrite: bool) -> None:
    """The embedded writer's work (stage the files, commit them with the app transactions and
    removals) done in this process for an Arrow table."""
    writer = DeltaDataSource(options).writer(None, overwrite)  # type: ignore[arg-type]
    message = writer.write(iter(table.to_batches()))
    writer.commit([message])


def _translate(exc: BaseException, spec: TableSpec) -> TracelakeError:
    text = str(exc)
    match = _WORKER_ERROR.search(text)
    if match:
        kind, message = match.group(1), match.group(2).strip()
        if kind == "AppendOnlyTableError":
            return AppendOnlyViolationError(message)
        if kind == "ConcurrentRewriteError":
            return ConcurrentWriteError(message)
        return JobFailedError(f"writing {spec.qualified_name} failed: {message}")
    java = _JAVA_ERROR.search(text)
    if java:
        kind, message = java.group(1).rsplit(".", 1)[-1], java.group(2).strip()
        if kind in _DELTA_CONFLICTS:
            return ConcurrentWriteError(
                f"writing {spec.qualified_name} lost to concurrent commits "
                f"{NATIVE_COMMIT_ATTEMPTS} times and nothing was committed ({kind}): "
                f"{message[:300]}; run the job again"
            )
        first = f"{kind}: {message}"
    else:
        first = next(
            (line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__
        )
    return JobFailedError(
        f"writing {spec.qualified_name} failed and nothing was committed: {first[:300]}"
    )


def _outcome(lake: Lake, spec: TableSpec, before: int | None, write_id: str) -> WriteOutcome:
    after = lake.version(spec)
    if after is None or after == before:
        return WriteOutcome(version=None)
    first = 0 if before is None else before + 1
    for version in range(after, first - 1, -1):
        entries = lake.commit_actions(spec, version) or []
        info = next((e["commitInfo"] for e in entries if "commitInfo" in e), {})
        if info.get(WRITE_ID_KEY) == write_id or _user_metadata_id(info) == write_id:
            return _summarise(version, entries)
    return WriteOutcome(version=None)  # discarded: the app transaction was already there


def _user_metadata_id(info: dict[str, Any]) -> str | None:
    try:
        return json.loads(info.get("userMetadata") or "{}").get(WRITE_ID_KEY)
    except (ValueError, AttributeError):
        return None


def _summarise(version: int, entries: list[dict[str, Any]]) -> WriteOutcome:
    added = rows = removed = 0
    for entry in entries:
        if "add" in entry:
            added += 1
            stats = json.loads(entry["add"].get("stats") or "{}")
            rows += int(stats.get("numRecords", 0))
        elif "remove" in entry:
            removed += 1
    return WriteOutcome(version=version, files_added=added, rows_added=rows, files_removed=removed)
