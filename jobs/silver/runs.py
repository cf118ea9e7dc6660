"""The runs projection: silver.events -> silver.runs, one row per run, incrementally.

It reads the scrubbed events (silver.events), never bronze: no secret or personal value that
the scrub replaces can reach silver.runs.

Full run (first run, or a rebuild): project every event of the source snapshot and overwrite.

Incremental run, over the source versions not yet consumed (silver.events only grows by
appends; an erasure's rewrite commit carries this job's bookmark, so it is never read as new
events), those versions' files hold exactly the new events:
  NewEvents       the events added since the bookmark
  AffectedRuns    the runs they belong to
  ExistingRows    those runs' current silver rows: their data files and event time span
  PriorEvents     the affected runs' earlier events, read from the source snapshot at the
                  bookmark, only the event_date partitions their time span covers
  Project         all events of the affected runs -> their new rows (recomputed from scratch,
                  so a late event yields exactly what a full rebuild yields)
  Rewrite         the untouched rows of the silver files holding affected runs + the new rows;
                  committed with the removal of those files and the bookmark, in one commit
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.datasource import Filter, In

from ..context import JobContext, JobResult
from ..lake import catalog, spark_io
from ..lake.delta_source import Predicate, plan_scan, read_arrow
from ..runner import JobInput, JobOutput, run_job

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

JOB_NAME = "project_runs"
SOURCE = catalog.SILVER_EVENTS
FILE_COLUMN = "_tracelake_file"
# Below this many rows, key lookups read Parquet in this process: a Spark job costs more.
LOCAL_READ_MAX_ROWS = 2_000_000
# A full projection writes a silver.runs file per this many source events (about 5,000 runs of
# 20 events; see _full_files).
EVENTS_PER_FILE = 100_000
# Above this many runs, restrict by a broadcast join instead of an IN list.
MAX_IN_LIST = 5_000
# Above this many distinct days, reading the prior events prunes by run id only.
MAX_PRIOR_DAYS = 400

# silver.runs files hold runs by time: late events mostly touch recent runs, so an incremental
# run rewrites the newest file(s) instead of every file of the table.
ORDER = ("first_event_ts", "run_id")

# The event columns the projection needs (never attributes, dialect, lake bookkeeping).
EVENT_COLUMNS = (
    "event_id",
    "parent_event_id",
    "run_id",
    "seq",
    "ts",
    "source",
    "event_type",
    "component_name",
    "component_kind",
    "component_version",
    "action",
    "input",
    "output",
    "reasoning",
    "status",
    "error",
    "error_type",
    "tokens_in",
    "tokens_out",
    "latency_ms",
    "cost_usd",
    "mode",
    "goal",
    "scenario",
    "scenario_level",
    "event_date",
)

# One row per run. `k` orders a run's events: seq, then ts, then event_id (unique), so every
# "first"/"last" below and the step order are deterministic, whatever the input partitioning.
# Float totals are folded over the ordered steps for the same reason.
PROJECTION_SQL = """
WITH explained AS (
  SELECT *, collect_set(CASE WHEN event_type = 'error' THEN parent_event_id END)
              OVER (PARTITION BY run_id) AS error_parents
  FROM {events}
),
e AS (
  SELECT *, named_struct('seq', seq, 'ts', ts, 'event_id', event_id) AS k,
         coalesce(output, reasoning, action) AS learning_text,
         coalesce(output, input) AS plan_text,
         -- schemas/runs.py: a failed call and its error event are one failure; run-level
         -- events never count.
         (event_type = 'error'
          OR coalesce(status = 'error'
                      AND event_type NOT IN ('run_started', 'run_completed', 'run_failed')
                      AND NOT array_contains(error_parents, event_id), false)) AS is_failure
  FROM explained
),
runs AS (
  SELECT
    run_id,
    min_by(goal, k) FILTER (WHERE goal IS NOT NULL) AS goal,
    min_by(scenario, k) FILTER (WHERE scenario IS NOT NULL) AS scenario,
    min_by(scenario_level, k) FILTER (WHERE scenario_level IS NOT NULL) AS scenario_level,
    min_by(mode, k) FILTER (WHERE mode IS NOT NULL) AS mode,
    min_by(source, k) AS source,
    min_by(input, k) FILTER (WHERE event_type = 'run_started' AND input IS NOT NULL)
      AS context_json,
    collect_list(CASE WHEN event_type = 'plan_created' AND reasoning IS NOT NULL
                      THEN struct(k, reasoning AS text) END) AS plan_notes,
    max_by(plan_text, k) FILTER (WHERE event_type = 'plan_created' AND plan_text IS NOT NULL)
      AS plan_json,
    min_by(ts, k) FILTER (WHERE event_type = 'run_started') AS run_started_ts,
    max_by(event_type, k) FILTER (WHERE event_type IN ('run_completed', 'run_failed'))
      AS terminal_type,
    max_by(ts, k) FILTER (WHERE event_type IN ('run_completed', 'run_failed')) AS ended_at,
    max_by(output, k) FILTER (WHERE event_type IN ('run_completed', 'run_failed'))
      AS final_output,
    transform(
      array_sort(collect_list(struct(k, named_struct(
        'seq', seq, 'event_id', event_id, 'ts', ts, 'event_type', event_type,
        'component', component_name, 'component_kind', component_kind,
        'version', component_version, 'action', action, 'status', status,
        'latency_ms', latency_ms, 'tokens_in', tokens_in, 'tokens_out', tokens_out,
        'cost_usd', cost_usd, 'error_type', error_type, 'error', error,
        'reasoning', reasoning, 'input', input, 'output', output,
        'is_failure', is_failure) AS step))),
      x -> x.step) AS steps,
    array_sort(collect_set(component_name)) AS components,
    array_sort(collect_set(CASE WHEN component_name IS NOT NULL
                                 AND component_version IS NOT NULL
                                THEN concat(component_name, '@', component_version) END))
      AS component_versions,
    transform(array_sort(collect_list(
      CASE WHEN event_type = 'learning_recorded' AND learning_text IS NOT NULL
           THEN struct(k, learning_text AS text) END)), x -> x.text) AS learnings,
    count_if(is_failure) AS error_count,
    count_if(event_type = 'recovery') AS recovery_count,
    coalesce(sum(tokens_in), 0) AS total_tokens_in,
    coalesce(sum(tokens_out), 0) AS total_tokens_out,
    count(*) AS n_events,
    min(ts) AS first_event_ts,
    max(ts) AS last_event_ts
  FROM e
  GROUP BY run_id
)
SELECT
  run_id, goal, scenario, scenario_level, mode, source, context_json,
  nullif(array_join(transform(array_sort(plan_notes), x -> x.text), '\n\n'), '')
    AS plan_reasoning,
  plan_json,
  coalesce(run_started_ts, first_event_ts) AS started_at,
  ended_at,
  (unix_micros(ended_at) - unix_micros(coalesce(run_started_ts, first_event_ts))) / 1e6
    AS duration_s,
  CASE
    WHEN terminal_type = 'run_failed' THEN 'failure'
    WHEN terminal_type = 'run_completed' AND (error_count > 0 OR recovery_count > 0)
      THEN 'success_with_recovery'
    WHEN terminal_type = 'run_completed' THEN 'success'
    ELSE 'incomplete'
  END AS outcome,
  final_output, steps, components, component_versions, learnings,
  error_count, recovery_count, total_tokens_in, total_tokens_out,
  aggregate(steps, 0D, (acc, s) -> acc + coalesce(s.cost_usd, 0D)) AS total_cost_usd,
  aggregate(steps, 0D, (acc, s) -> acc + coalesce(s.latency_ms, 0D)) AS total_latency_ms,
  n_events, first_event_ts, last_event_ts
FROM runs
"""


def project(events: DataFrame) -> DataFrame:
    """Events (any subset holding ALL events of each run in it) -> silver.runs rows."""
    spark = events.sparkSession
    view = f"tracelake_events_{id(events):x}"
    events.createOrReplaceTempView(view)
    try:
        rows = spark.sql(PROJECTION_SQL.format(events=view))
        return rows.select(*catalog.SILVER_RUNS.schema.names)
    finally:
        # The plan is resolved: dropping the view name does not affect `rows`.
        spark.catalog.dropTempView(view)


def _read_only(
    read: Callable[..., DataFrame],
    column: str,
    values: list[str],
    where: Sequence[Predicate] = (),
) -> DataFrame:
    """`read(where=...)` restricted to rows whose `column` is one of `values`: as a predicate
    (files pruned by statistics) when the list is short, else a broadcast semi-join."""
    from pyspark.sql import functions as F

    if len(values) <= MAX_IN_LIST:
        return read(where=[*where, (column, "in", values)])
    df = read(where=list(where))
    keys = df.sparkSession.createDataFrame([(v,) for v in values], f"{column} string")
    return df.join(F.broadcast(keys), column, "left_semi")


def _exclude(df: DataFrame, column: str, values: list[str]) -> DataFrame:
    from pyspark.sql import functions as F

    if len(values) <= MAX_IN_LIST:
        return df.where(~F.col(column).isin(values))
    keys = df.sparkSession.createDataFrame([(v,) for v in values], f"{column} string")
    return df.join(F.broadcast(keys), column, "left_anti")


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


@dataclass(frozen=True)
class ProjectRuns:
    """The IncrementalJob for silver.runs (see the module docstring)."""

    name: str = JOB_NAME
    sources: tuple = (SOURCE,)
    output: catalog.TableSpec = catalog.SILVER_RUNS

    def compute(self, job: JobInput) -> JobOutput:
        source = job.range(SOURCE)
        spark, lake = job.spark, job.ctx.lake

        def events(**kw) -> DataFrame:
            return spark_io.read(spark, SOURCE, lake=lake, columns=EVENT_COLUMNS, **kw)

        if job.full or source.is_full:
            rows = project(events(version=source.upto))
            files = _full_files(job, source.upto)
            return JobOutput(_by_time(rows.repartitionByRange(files, *ORDER)), mode="overwrite")

        new_events = _read_small(
            job, SOURCE, EVENT_COLUMNS, version=source.upto, after=source.after
        )
        if new_events is None:
            new_events = events(version=source.upto, after_version=source.after)
        affected = self._affected_runs(job, new_events)
        if not affected:  # nothing but the bookmark to commit
            return JobOutput(_empty(spark), details={"runs_affected": 0})

        silver_version = lake.version(catalog.SILVER_RUNS)
        existing = (
            self._existing_rows(job, silver_version, affected) if silver_version is not None else []
        )
        all_events = new_events
        if existing:
            known = sorted(r.run_id for r in existing)
            days = sorted({d for r in existing for d in _days(r.first_day, r.last_day)})
            prior = self._prior_events(job, known, days)
            if prior is None:  # too many to read here: let Spark read them
                by_day = [("event_date", "in", days)] if len(days) <= MAX_PRIOR_DAYS else []
                prior = _read_only(
                    lambda **kw: events(version=source.after, **kw), "run_id", known, by_day
                )
            all_events = new_events.unionByName(prior)
        rows = project(all_events)

        touched = sorted({r.file for r in existing})
        if touched:
            kept = _read_small(
                job,
                catalog.SILVER_RUNS,
                catalog.SILVER_RUNS.schema.names,
                version=silver_version,
                only_files=touched,
            )
            if kept is None:
                kept = spark_io.read(
                    spark, catalog.SILVER_RUNS, lake=lake, version=silver_version, files=touched
                )
            rows = _exclude(kept, "run_id", sorted(r.run_id for r in existing)).unionByName(rows)
        return JobOutput(
            _by_time(rows.repartition(1)),
            replace_files=touched,
            details={
                "runs_affected": len(affected),
                "runs_updated": len(existing),
                "files_rewritten": len(touched),
            },
        )

    def _prior_events(
        self, job: JobInput, run_ids: list[str], days: list[dt.date]
    ) -> DataFrame | None:
        """The already-stored events of `run_ids` (file statistics on run_id and the runs'
        days prune the files), or None when there are too many to read in this process."""
        filters: list[Filter] = [In(("run_id",), tuple(run_ids))]
        if len(days) <= MAX_PRIOR_DAYS:
            filters.append(In(("event_date",), tuple(days)))
        return _read_small(
            job,
            SOURCE,
            EVENT_COLUMNS,
            version=job.range(SOURCE).after,
            filters=filters,
            expression=pc.field("run_id").isin(pa.array(run_ids, pa.string())),
        )

    def _affected_runs(self, job: JobInput, new_events: DataFrame) -> list[str]:
        """Run ids of the new events: read here when few, by Spark when many."""
        lake, source = job.ctx.lake, job.range(SOURCE)
        plan = plan_scan(
            lake.uri(SOURCE),
            lake.storage_options,
            version=source.upto,
            after_version=source.after,
        )
        if sum(f.num_records or 0 for f in plan.files) <= LOCAL_READ_MAX_ROWS:
            ids = read_arrow(
                lake.uri(SOURCE),
                lake.storage_options,
                plan.files,
                pa.schema([SOURCE.schema.field("run_id")]),
            )["run_id"]
            return sorted(pc.unique(ids).to_pylist())
        return sorted(r[0] for r in new_events.select("run_id").distinct().collect())

    def _existing_rows(
        self, job: JobInput, silver_version: int, affected: list[str]
    ) -> list[ExistingRun]:
        """The silver rows of affected runs: their file and the days their events span."""
        lake = job.ctx.lake
        uri = lake.uri(catalog.SILVER_RUNS)
        plan = plan_scan(uri, lake.storage_options, version=silver_version)
        columns = ["run_id", "first_event_ts", "last_event_ts"]
        if sum(f.num_records or 0 for f in plan.files) <= LOCAL_READ_MAX_ROWS:
            schema = pa.schema([catalog.SILVER_RUNS.schema.field(c) for c in columns])
            table = read_arrow(uri, lake.storage_options, plan.files, schema, FILE_COLUMN)
            table = table.filter(pc.is_in(table["run_id"], pa.array(affected, pa.string())))
            first = pc.cast(table["first_event_ts"], pa.date32()).to_pylist()
            last = pc.cast(table["last_event_ts"], pa.date32()).to_pylist()
            return [
                ExistingRun(run_id, file, a, b)
                for run_id, file, a, b in zip(
                    table["run_id"].to_pylist(),
                    table[FILE_COLUMN].to_pylist(),
                    first,
                    last,
                    strict=True,
                )
            ]
        rows = (
            _read_only(
                lambda **kw: spark_io.read(
                    job.spark,
                    catalog.SILVER_RUNS,
                    lake=lake,
                    version=silver_version,
                    columns=columns,
                    file_column=FILE_COLUMN,
                    **kw,
                ),
                "run_id",
                affected,
            )
            # Dates computed by Spark (session time zone UTC), not from Python datetimes.
            .selectExpr("run_id", FILE_COLUMN, "to_date(first_event_ts)", "to_date(last_event_ts)")
            .collect()
        )
        return [ExistingRun(*r) for r in rows]


def _read_small(
    job: JobInput, spec: catalog.TableSpec, columns: Sequence[str], **read: Any
) -> DataFrame | None:
    """Rows of a small read, read in this process and handed to Spark as one Arrow table (a
    Spark scan through Python workers costs seconds for a few thousand rows); None when the
    planned files hold more than LOCAL_READ_MAX_ROWS, so the caller lets Spark read them.
    `read`: `_read_small_arrow`'s keywords."""
    rows = _read_small_arrow(job, spec, columns, **read)
    return None if rows is None else spark_io.from_arrow(job.spark, rows)


def _read_small_arrow(
    job: JobInput,
    spec: catalog.TableSpec,
    columns: Sequence[str],
    *,
    version: int | None,
    after: int | None = None,
    only_files: Sequence[str] | None = None,
    filters: Sequence[Filter] = (),
    expression: pc.Expression | None = None,
) -> pa.Table | None:
    """The rows of `spec` at `version` (added after `after`; in `only_files`; in the files
    `filters` may match, then exactly those matching `expression`) as one Arrow table read in
    this process, or None when the planned files hold more than LOCAL_READ_MAX_ROWS."""
    lake = job.ctx.lake
    uri = lake.uri(spec)
    plan = plan_scan(
        uri,
        lake.storage_options,
        version=version,
        after_version=after,
        only_files=only_files,
        filters=filters,
    )
    if sum(f.num_records or 0 for f in plan.files) > LOCAL_READ_MAX_ROWS:
        return None
    schema = pa.schema([spec.schema.field(c) for c in columns])
    return read_arrow(uri, lake.storage_options, plan.files, schema, expression=expression)


def _full_files(job: JobInput, version: int | None) -> int:
    """How many files a full projection writes: one per EVENTS_PER_FILE source events (from
    the Delta log's per-file counts), so that a file holds about as many runs at any table
    size and an incremental run, which rewrites the files of the runs it updates, costs what
    the increment touches rather than a fixed share of the table."""
    lake = job.ctx.lake
    plan = plan_scan(lake.uri(SOURCE), lake.storage_options, version=version)
    events = sum(f.num_records or 0 for f in plan.files)
    return max(1, -(-events // EVENTS_PER_FILE))


def _by_time(rows: DataFrame) -> DataFrame:
    return rows.sortWithinPartitions(*ORDER)


@dataclass(frozen=True)
class ExistingRun:
    run_id: str
    file: str
    first_day: dt.date
    last_day: dt.date


def _empty(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([], spark_io.spark_schema(catalog.SILVER_RUNS.schema))


JOB = ProjectRuns()


def run(ctx: JobContext, full: bool = False) -> JobResult:
    """Bring silver.runs up to date with silver.events (or recompute it with full=True)."""
    return run_job(ctx, JOB, full=full)
