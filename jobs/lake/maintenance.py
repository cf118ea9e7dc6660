"""Lake maintenance, one table at a time: compaction, VACUUM, checkpoint, log cleanup.

- Compaction rewrites many small files (collector micro-batches, small ingests) into files near
  `target_file_bytes`. Its commit adds and removes files with `dataChange=false`: readers of
  version ranges (the incremental runner) see no new rows, and append-only (bronze) tables
  accept it, since no row is added or removed.
- VACUUM deletes data files that no snapshot of the last `retention_hours` needs (a reader
  that opened an older snapshot may still read them), including files that no commit ever
  referenced: staged files of a commit whose outcome was unknown, or of a killed writer. Those
  are only deleted once older than the retention too, so a writer still staging is never hurt.
- A checkpoint (Parquet summary of the log) keeps snapshot loading fast; log cleanup then drops
  JSON commits older than the table's log retention (`delta.logRetentionDuration`, 30 days by
  default) that precede a checkpoint.

Engines: delta-rs (`optimize.compact`, `vacuum(full=True)`, `create_checkpoint`,
`cleanup_metadata`) always works; with native Delta on Spark, compaction and VACUUM run as
`OPTIMIZE` / `VACUUM` through delta-spark instead (see `maintain_table(engine=...)`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from deltalake import CommitProperties

from ..errors import TracelakeError
from .catalog import TableSpec
from .store import Lake

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from ..settings import MaintenanceSettings

MAINTENANCE_APP = "tracelake.maintain"


@dataclass(frozen=True)
class FileStats:
    files: int
    small_files: int
    bytes: int

    @property
    def small_ratio(self) -> float:
        return self.small_files / self.files if self.files else 0.0


@dataclass
class TableMaintenance:
    table: str
    engine: str
    files_before: int = 0
    files_after: int = 0
    small_before: int = 0
    small_after: int = 0
    compacted: dict[str, Any] = field(default_factory=dict)
    vacuumed_files: int = 0
    checkpoint_version: int | None = None
    skipped: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_stats(lake: Lake, spec: TableSpec, small_file_bytes: int) -> FileStats | None:
    """Live data files of the current snapshot, how many are small, and their total size."""
    table = lake.table(spec)
    if table is None:
        return None
    actions = table.get_add_actions(flatten=True)
    raw: list[int] = list(actions.column("size_bytes").to_pylist()) if actions.num_rows else []
    sizes = [int(s) for s in raw]
    return FileStats(
        files=len(sizes),
        small_files=sum(1 for s in sizes if s < small_file_bytes),
        bytes=sum(sizes),
    )


def maintain_table(
    lake: Lake,
    spec: TableSpec,
    settings: MaintenanceSettings,
    *,
    engine: str = "delta-rs",
    spark: SparkSession | None = None,
    vacuum: bool = True,
) -> TableMaintenance:
    """Compact (when it has enough small files), vacuum, checkpoint and clean one table."""
    report = TableMaintenance(table=spec.qualified_name, engine=engine)
    before = file_stats(lake, spec, settings.small_file_bytes)
    if before is None:
        report.skipped = "table does not exist yet"
        return report
    report.files_before, report.small_before = before.files, before.small_files
    # A table that lays out its own files (sorted, Bloom filters) is merged by its own job.
    if before.small_files >= settings.min_small_files and not spec.own_compaction:
        report.compacted = _compact(lake, spec, settings, engine, spark)
    if vacuum:
        report.vacuumed_files = _vacuum(lake, spec, settings, engine, spark)
    table = lake.table(spec)
    assert table is not None
    table.create_checkpoint()
    table.cleanup_metadata()
    report.checkpoint_version = table.version()
    after = file_stats(lake, spec, settings.small_file_bytes)
    assert after is not None
    report.files_after, report.small_after = after.files, after.small_files
    return report


def _compact(
    lake: Lake,
    spec: TableSpec,
    settings: MaintenanceSettings,
    engine: str,
    spark: SparkSession | None,
) -> dict[str, Any]:
    if engine == "spark":
        from .spark_io import configure_s3a, native_uri

        assert spark is not None
        configure_s3a(spark, lake)
        spark.conf.set(
            "spark.databricks.delta.optimize.maxFileSize", str(settings.target_file_bytes)
        )
        row = spark.sql(f"OPTIMIZE delta.`{native_uri(lake.uri(spec))}`").collect()
        metrics = row[0]["metrics"].asDict() if row else {}
        return {
            "files_added": int(metrics.get("numFilesAdded", 0)),
            "files_removed": int(metrics.get("numFilesRemoved", 0)),
        }
    table = lake.table(spec)
    assert table is not None
    metrics = table.optimize.compact(
        target_size=settings.target_file_bytes,
        commit_properties=CommitProperties(custom_metadata={"tracelake.job": MAINTENANCE_APP}),
    )
    return {
        "files_added": int(metrics.get("numFilesAdded", 0)),
        "files_removed": int(metrics.get("numFilesRemoved", 0)),
    }


def _vacuum(
    lake: Lake,
    spec: TableSpec,
    settings: MaintenanceSettings,
    engine: str,
    spark: SparkSession | None,
) -> int:
    if engine == "spark":
        from .spark_io import configure_s3a, native_uri

        assert spark is not None
        configure_s3a(spark, lake)
        # Our retention is a setting; Delta's own 7-day floor would refuse shorter ones.
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        uri = native_uri(lake.uri(spec))
        deleted = spark.sql(f"VACUUM delta.`{uri}` RETAIN {settings.retention_hours} HOURS")
        return deleted.count()
    table = lake.table(spec)
    assert table is not None
    try:
        removed = table.vacuum(
            retention_hours=settings.retention_hours,
            dry_run=False,
            enforce_retention_duration=False,
            full=True,  # also files no commit references (staged, unknown outcome, killed)
        )
    except Exception as exc:  # delta-rs raises plain exceptions for storage problems
        raise TracelakeError(f"VACUUM of {spec.qualified_name} failed: {exc}") from exc
    return len(removed)
