"""`tracelake status`: what the lake holds and what its jobs did, as one report.

The CLI only prints this report; Airflow or a notebook can call `report(ctx)` the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .context import JobContext
from .lake import catalog

RUN_COLUMNS = (
    "job",
    "status",
    "started_at",
    "duration_s",
    "rows_in",
    "rows_out",
    "rows_quarantined",
    "message",
)


def _file_counts(ctx: JobContext, spec: catalog.TableSpec) -> dict[str, Any]:
    """Data files and the share of small ones (what `tracelake maintain` compacts)."""
    from .lake.maintenance import file_stats

    stats = file_stats(ctx.lake, spec, ctx.settings.maintenance.small_file_bytes)
    if stats is None:
        return {"files": 0, "small_files": 0, "small_ratio": 0.0}
    return {
        "files": stats.files,
        "small_files": stats.small_files,
        "small_ratio": round(stats.small_ratio, 3),
    }


def report(ctx: JobContext, last_runs: int = 10) -> dict[str, Any]:
    """Each table's version and row count, the last job runs, the failures and warnings."""
    warnings: list[str] = []
    if ctx.lake.is_local and not Path(ctx.lake.root).exists():
        warnings.append(
            f"the lake root {ctx.lake.root} does not exist yet: nothing was ingested there "
            "(check lake_root / --lake, or run `tracelake ingest PATH`)"
        )
    tables = []
    for spec in catalog.all_tables():
        version = ctx.lake.version(spec)
        tables.append(
            {
                "table": spec.qualified_name,
                "uri": ctx.lake.uri(spec),
                "version": version,
                "rows": ctx.lake.count(spec) if version is not None else 0,
                **_file_counts(ctx, spec),
            }
        )
    runs = ctx.lake.read(catalog.OPS_JOB_RUNS).to_pylist()
    runs.sort(key=lambda r: r["started_at"], reverse=True)
    recent = [{k: r.get(k) for k in RUN_COLUMNS} for r in runs[:last_runs]]
    failed = [r for r in recent if r["status"] == "failed"]
    return {
        "lake_root": ctx.lake.root,
        "warnings": warnings,
        "tables": tables,
        "job_runs": recent,
        "failed_runs": failed,
    }
