"""silver.component_version_stats: one row per component version and population (real,
synthetic) of mergeable aggregates over silver.component_usage: counts and sums, min/max
times, sets of aliases and definition hashes, the earliest declared parent and change note.
silver.components and silver.component_evolution are computed from it (a few rows per
version), never from the usage table.

Incremental: the usage rows added since the bookmark (a usage run appends new runs' rows, and
rewrites the files of runs that gained events) are compared with what the same runs had at the
bookmark. Rows that only moved (kept rows of a rewritten file) cancel out; new rows are
aggregated and merged into the stored rows. A version is recomputed from all its usage rows
when the merge cannot be exact: a run's row of it changed or went away (a late event), or its
earliest declaration moved earlier (which changes `used_before_declared` of older rows).
Full run: every usage row.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.datasource import In

from ..context import JobContext, JobResult
from ..lake import catalog, spark_io
from ..lake.delta_source import plan_scan, read_arrow
from ..runner import JobInput, JobOutput, run_job
from ._version_stats import aggregate, merge
from .runs import LOCAL_READ_MAX_ROWS, _read_only

JOB_NAME = "component_version_stats"
OUTPUT = catalog.SILVER_COMPONENT_VERSION_STATS
USAGE = catalog.SILVER_COMPONENT_USAGE
# Above this many added usage rows, an incremental run recomputes in full (the comparison of
# added and previous rows runs in this process; the previous rows are read out of at most
# LOCAL_READ_MAX_ROWS rows at the bookmark).
MAX_COMPARED_ROWS = 500_000


def _local(
    job: JobInput,
    version: int,
    most: int,
    expression: pc.Expression | None = None,
    **plan: Any,
) -> pa.Table | None:
    """Usage rows read in this process; None when the planned files hold more than `most`."""
    lake = job.ctx.lake
    uri = lake.uri(USAGE)
    scan = plan_scan(uri, lake.storage_options, version=version, **plan)
    if sum(f.num_records or 0 for f in scan.files) > most:
        return None
    return read_arrow(uri, lake.storage_options, scan.files, USAGE.schema, expression=expression)


def _keyed(table: pa.Table) -> tuple[Counter, dict[bytes, dict[str, Any]]]:
    """Rows as a multiset of canonical JSON texts, and each text's row."""
    rows = table.to_pylist()
    keys = [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in rows]
    return Counter(keys), dict(zip(keys, rows, strict=True))


@dataclass(frozen=True)
class ComponentVersionStats:
    """The IncrementalJob for silver.component_version_stats (see the module docstring)."""

    name: str = JOB_NAME
    sources: tuple = (USAGE,)
    output: catalog.TableSpec = OUTPUT

    def compute(self, job: JobInput) -> JobOutput:
        src = job.range(USAGE)
        spark, lake = job.spark, job.ctx.lake
        stored = lake.table(OUTPUT) if lake.version(OUTPUT) is not None else None
        if job.full or src.is_full or stored is None:
            return self._full(job, "full build")
        try:
            added = _local(job, src.upto, MAX_COMPARED_ROWS, after_version=src.after)
            runs = pc.unique(added["run_id"]) if added is not None else None
            # the previous rows of those runs, out of the whole table at the bookmark
            before = (
                _local(
                    job,
                    src.after,
                    LOCAL_READ_MAX_ROWS,
                    expression=pc.field("run_id").isin(runs),
                    filters=[In(("run_id",), tuple(runs.to_pylist()))],
                )
                if runs is not None and len(runs)
                else added
            )
        except OSError as exc:  # the previous files were vacuumed
            return self._full(job, f"previous usage files unreadable: {exc}")
        if added is None or before is None:
            return self._full(job, "too many changed usage rows to merge")
        if runs is not None and len(runs) and before.num_rows:
            before = before.filter(pc.is_in(before["run_id"], runs))
        old, _ = _keyed(before) if before is not added else (Counter(), {})
        new, by_key = _keyed(added)
        gone = old - new  # rows replaced or dropped by late events
        fresh = [by_key[k] for k in (new - old).elements()]
        state = stored.to_pyarrow_table().to_pylist()
        versions = {(r["component"], r["version"]) for r in state}
        declared: dict[tuple[str, str], Any] = {}
        for r in state:
            key = (r["component"], r["version"])
            if r["declared_at"] is not None and (
                key not in declared or r["declared_at"] < declared[key]
            ):
                declared[key] = r["declared_at"]
        dirty = {(r["component"], r["version"]) for r in map(orjson.loads, gone)}
        fresh_rows = pa.Table.from_pylist(fresh, USAGE.schema) if fresh else None
        if fresh_rows is not None:
            earliest = fresh_rows.group_by(["component", "version"]).aggregate(
                [("declared_at", "min")]
            )
            for r in earliest.to_pylist():
                at, key = r["declared_at_min"], (r["component"], r["version"])
                if at is None or key not in versions:
                    continue
                if key not in declared or at < declared[key]:
                    dirty.add(key)
        keep = [r for r in state if (r["component"], r["version"]) not in dirty]
        parts = []
        if keep:
            parts.append(spark_io.from_arrow(spark, pa.Table.from_pylist(keep, OUTPUT.schema)))
        if fresh_rows is not None:
            rows = fresh_rows.filter(
                pc.invert(_in_versions(fresh_rows, dirty)) if dirty else pc.scalar(True)
            )
            if rows.num_rows:
                known = spark.createDataFrame(
                    [(c, v, at) for (c, v), at in declared.items() if (c, v) not in dirty],
                    "component string, version string, declared_at timestamp",
                )
                parts.append(aggregate(spark_io.from_arrow(spark, rows), known))
        merged = None
        for p in parts:
            p = p.select(*OUTPUT.schema.names)
            merged = p if merged is None else merged.unionByName(p)
        if merged is not None and fresh_rows is not None:
            merged = merge(merged)
        if dirty:
            usage = _read_only(
                lambda **kw: spark_io.read(spark, USAGE, lake=lake, version=src.upto, **kw),
                "component",
                sorted({c for c, _ in dirty}),
            )
            again = aggregate(usage).join(
                spark.createDataFrame(sorted(dirty), "component string, version string"),
                ["component", "version"],
                "left_semi",
            )
            again = again.select(*OUTPUT.schema.names)
            merged = again if merged is None else merged.unionByName(again)
        # a few rows per version: brought here and written from here (no Spark write)
        data = (
            OUTPUT.schema.empty_table()
            if merged is None
            else spark_io.to_arrow(merged, OUTPUT.schema).sort_by(
                [(c, "ascending") for c in ("component", "version", "population")]
            )
        )
        return JobOutput(
            data,
            mode="overwrite",
            details={
                "note": "merged the changed usage rows into the stored aggregates",
                "usage_rows_added": sum((new - old).values()),
                "usage_rows_gone": sum(gone.values()),
                "versions_recomputed": len(dirty),
            },
        )

    def _full(self, job: JobInput, why: str) -> JobOutput:
        src = job.range(USAGE)
        # A Spark scan: handing Spark all usage rows read in this process (nested alias lists)
        # measured 23 s at 20k runs on the bridge, where the former components job's scan and
        # aggregation took 4 s (bench_phase2.py, shared machine).
        usage = spark_io.read(job.spark, USAGE, lake=job.ctx.lake, version=src.upto)
        data = aggregate(usage).select(*OUTPUT.schema.names).localCheckpoint()
        return JobOutput(
            data.repartition(1).sortWithinPartitions("component", "version", "population"),
            mode="overwrite",
            details={"note": f"recomputed from all of silver.component_usage ({why})"},
        )


def _in_versions(table: pa.Table, keys: set[tuple[str, str]]) -> pa.Array:
    joined = pc.binary_join_element_wise(table["component"], table["version"], "\x1f")
    return pc.is_in(joined, pa.array(sorted(f"{c}\x1f{v}" for c, v in keys)))


JOB = ComponentVersionStats()


def run(ctx: JobContext, full: bool = False) -> JobResult:
    """Bring silver.component_version_stats up to date with silver.component_usage."""
    return run_job(ctx, JOB, full=full)
