"""`tracelake maintain`: compaction, VACUUM, checkpoints and log cleanup for every lake table.

Runs weekly (dags/tracelake_maintain.py) or on demand. Engine: delta-rs by default (no Spark);
`engine="spark"` runs OPTIMIZE and VACUUM through native Delta on Spark instead. Settings:
`[maintenance]` (retention_hours, small_file_bytes, target_file_bytes, min_small_files).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .context import JobContext, JobResult, recorded_job_run
from .errors import TracelakeError
from .lake import catalog
from .lake.maintenance import maintain_table

JOB_NAME = "maintain"
ENGINES = ("delta-rs", "spark")


def run(
    ctx: JobContext,
    tables: Sequence[str] | None = None,
    engine: str = "delta-rs",
    vacuum: bool = True,
    rebuild_event_keys: bool = False,
) -> JobResult:
    """Maintain `tables` (qualified names; default: every catalog table). bronze.event_keys,
    the deduplication index, is first brought up to bronze.events and its small files merged
    (or rebuilt from bronze.events alone with `rebuild_event_keys`)."""
    if engine not in ENGINES:
        raise TracelakeError(f"maintain engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    specs = [catalog.get(name) for name in tables] if tables else catalog.all_tables()
    settings = ctx.settings.maintenance
    spark = None
    if engine == "spark":
        from .lake import spark_io
        from .spark import get_session

        spark = get_session(ctx.settings)
        if not spark_io.is_native(spark):
            raise TracelakeError(
                "maintain --engine spark needs native Delta (spark.delta = native and "
                "`make native-jars`); the default engine (delta-rs) needs neither"
            )
    with recorded_job_run(
        ctx, JOB_NAME, {"tables": [s.qualified_name for s in specs], "engine": engine}
    ) as result:
        reports = []
        ctx.progress.start("maintain", len(specs))
        for spec in specs:
            if spec == catalog.BRONZE_EVENT_KEYS:
                result.details["event_keys"] = _maintain_event_keys(ctx, rebuild_event_keys)
            reports.append(
                maintain_table(ctx.lake, spec, settings, engine=engine, spark=spark, vacuum=vacuum)
            )
            ctx.progress.advance()
        ctx.progress.finish()
        result.details["tables"] = {r.table: r.to_dict() for r in reports}
        compacted = sum(r.compacted.get("files_removed", 0) for r in reports)
        vacuumed = sum(r.vacuumed_files for r in reports)
        keys = result.details.get("event_keys", {})
        index_work = [keys["action"]] if keys.get("action") in ("appended", "rebuilt") else []
        if keys.get("files_merged"):
            index_work.append(f"{keys['files_merged']} small file(s) merged")
        result.rows_out = 0
        result.message = (
            f"{len(reports)} table(s): {compacted} small file(s) compacted, "
            f"{vacuumed} file(s) vacuumed (retention {settings.retention_hours} h)"
            + (
                f"; {catalog.BRONZE_EVENT_KEYS.qualified_name}: {', '.join(index_work)}"
                if index_work
                else ""
            )
        )
        if not compacted and not vacuumed and not index_work:
            result.status = "noop"
    return result


def _maintain_event_keys(ctx: JobContext, rebuild: bool) -> dict[str, Any]:
    """Refresh (or rebuild) the index, then merge its small files: its own compaction, which
    keeps the files sorted with their Bloom filters (generic compaction skips the table)."""
    from .ingest import event_keys

    ingest = ctx.settings.ingest
    if not ingest.key_index and not rebuild:
        return {"action": "none", "why": "ingest.key_index is off"}
    layout = (ingest.key_index_row_group_rows, ingest.key_index_file_rows)
    done = (
        event_keys.rebuild(ctx.lake, *layout) if rebuild else event_keys.refresh(ctx.lake, *layout)
    )
    settings = ctx.settings.maintenance
    done.files_merged = event_keys.merge_small_files(
        ctx.lake, settings.small_file_bytes, settings.min_small_files, *layout
    )
    return done.to_dict()
