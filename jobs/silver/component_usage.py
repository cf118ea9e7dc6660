"""silver.component_usage: one row per run x component version (the component-lineage join of
events, runs and versions), built incrementally.

Full run: every event of the source snapshot. Incremental run: the runs that gained events
since the bookmark are recomputed from all their events (so a late event yields what a full
rebuild yields), and the usage files holding those runs are rewritten in the same commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.datasource import In

from ..context import JobContext, JobResult
from ..lake import catalog, spark_io
from ..lake.delta_source import plan_scan, read_arrow
from ..runner import JobInput, JobOutput, run_job
from ._identity_frame import distinct_names, identities
from ._sources import EVENTS_SOURCE
from .runs import _exclude, _read_only, _read_small_arrow

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

JOB_NAME = "component_usage"
OUTPUT = catalog.SILVER_COMPONENT_USAGE
FILE_COLUMN = "_tracelake_file"
LOCAL_READ_MAX_ROWS = 2_000_000

EVENT_COLUMNS = (
    "event_id",
    "run_id",
    "seq",
    "ts",
    "source",
    "dialect",
    "event_type",
    "component_name",
    "component_kind",
    "component_version",
    "action",
    "input",
    "output",
    "reasoning",
    "status",
    "latency_ms",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "scenario",
    "scenario_level",
    "attributes",
)

# A synthetic run is marked by its producer or by an attribute (scenario expansion).
SYNTHETIC_SQL = "(source LIKE 'synthetic%' OR coalesce(attributes['synthetic'], '') = 'true')"
# `1.0` -> `1.0.0`, `v2` -> `2.0.0`; other text stays as written (as the ingest resolver does).
_NORMALISE = (
    "CASE WHEN {v} RLIKE '^[vV]?[0-9]+([._][0-9]+){{{{0,2}}}}$' THEN concat_ws('.', "
    "slice(concat(transform(split(regexp_replace({v}, '^[vV]', ''), '[._]'), "
    "p -> cast(cast(p AS int) AS string)), array('0', '0', '0')), 1, 3)) ELSE {v} END"
)
PARENT_RAW = (
    "coalesce(attributes['old_version'], attributes['replaces_version'], "
    "CASE WHEN attributes['replaces'] LIKE '%@%' "
    "THEN substring_index(attributes['replaces'], '@', -1) END)"
)

USAGE_SQL = f"""
WITH e AS (
  SELECT ev.*, named_struct('seq', seq, 'ts', ts, 'event_id', event_id) AS k,
         event_type IN ('tool_call', 'delegation') AS invocation
  FROM {{events}} ev
),
run AS (
  SELECT run_id,
    min_by(source, k) AS source,
    bool_or({SYNTHETIC_SQL}) AS synthetic,
    min_by(scenario, k) FILTER (WHERE scenario IS NOT NULL) AS scenario,
    min_by(scenario_level, k) FILTER (WHERE scenario_level IS NOT NULL) AS scenario_level,
    max_by(event_type, k) FILTER (WHERE event_type IN ('run_completed', 'run_failed'))
      AS terminal,
    count_if(event_type = 'error' OR status = 'error') AS n_errors,
    count_if(event_type = 'recovery') AS n_recoveries
  FROM e GROUP BY run_id
),
c AS (
  SELECT e.*, i.component, i.kind, i.version, i.version_key, i.resolved,
    max(i.version_key) OVER (PARTITION BY e.run_id, i.component ORDER BY e.k
                             ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS newest_before
  FROM e JOIN {{identities}} i
    ON e.component_name = i.raw_name AND e.component_kind <=> i.raw_kind
   AND e.component_version <=> i.raw_version
),
u AS (
  SELECT run_id, component, version,
    first(kind, true) AS kind,
    bool_and(resolved) AS resolved,
    array_sort(collect_set(named_struct(
      'alias', coalesce(attributes['component_raw_name'], component_name),
      'dialect', dialect))) AS aliases,
    count_if(invocation) AS calls,
    greatest(count_if(event_type = 'error'),
             count_if(status = 'error' AND event_type IN
                      ('tool_result', 'agent_message', 'tool_call', 'delegation'))) AS errors,
    count_if(invocation) - size(array_distinct(collect_list(
      CASE WHEN invocation THEN concat(coalesce(action, ''), '|', coalesce(input, '')) END)))
      AS retries,
    count(lat) AS latency_n,
    coalesce(sum(lat), 0D) AS latency_sum_ms,
    coalesce(sum(lat * lat), 0D) AS latency_sumsq_ms,
    percentile(lat, 0.5) AS latency_p50_ms,
    percentile(lat, 0.95) AS latency_p95_ms,
    coalesce(sum(tokens_in), 0L) AS tokens_in,
    coalesce(sum(tokens_out), 0L) AS tokens_out,
    aggregate(transform(array_sort(collect_list(struct(k, coalesce(cost_usd, 0D) AS cost))),
              x -> x.cost), 0D, (acc, x) -> acc + x) AS cost_usd,
    min(ts) AS first_ts,
    max(ts) AS last_ts,
    min(ts) FILTER (WHERE event_type IN ('component_created', 'component_evolved'))
      AS declared_at,
    min_by({_NORMALISE.format(v=PARENT_RAW)}, k) FILTER (WHERE {PARENT_RAW} IS NOT NULL)
      AS parent_version,
    min_by(coalesce(get_json_object(output, '$.change'), attributes['change'], reasoning), k)
      FILTER (WHERE event_type = 'component_evolved') AS change_note,
    min_by(sha2(coalesce(output, input, attributes['description'], ''), 256), k)
      FILTER (WHERE attributes['definition_file'] IS NOT NULL) AS definition_hash,
    count_if(invocation AND newest_before > version_key) AS backwards_uses
  FROM (SELECT *, CASE WHEN latency_ms IS NOT NULL
                        AND event_type NOT IN ('run_started', 'goal_received',
                                               'run_completed', 'run_failed')
                       THEN latency_ms END AS lat FROM c)
  GROUP BY run_id, component, version
)
SELECT u.run_id, u.component, u.version, u.kind, u.resolved, run.synthetic, run.source,
  u.aliases, u.calls, u.errors, u.retries, u.latency_n, u.latency_sum_ms, u.latency_sumsq_ms,
  u.latency_p50_ms, u.latency_p95_ms, u.tokens_in, u.tokens_out, u.cost_usd,
  CASE WHEN run.terminal = 'run_failed' THEN 'failure'
       WHEN run.terminal = 'run_completed' AND (run.n_errors > 0 OR run.n_recoveries > 0)
         THEN 'success_with_recovery'
       WHEN run.terminal = 'run_completed' THEN 'success'
       ELSE 'incomplete' END AS run_outcome,
  coalesce(run.terminal = 'run_completed', false) AS run_succeeded,
  run.scenario, run.scenario_level, u.first_ts, u.last_ts, u.declared_at,
  u.parent_version, u.change_note, u.definition_hash, u.backwards_uses
FROM u JOIN run USING (run_id)
"""


def usage(events: DataFrame, names: Sequence[tuple] | None = None) -> DataFrame:
    """Events (holding ALL events of each run in them) -> silver.component_usage rows.
    names: the events' distinct component names, when known (see `identities`)."""
    spark = events.sparkSession
    tag = f"{id(events):x}"
    events.createOrReplaceTempView(f"tl_usage_events_{tag}")
    identities(events, names).createOrReplaceTempView(f"tl_usage_ids_{tag}")
    try:
        rows = spark.sql(
            USAGE_SQL.format(events=f"tl_usage_events_{tag}", identities=f"tl_usage_ids_{tag}")
        )
        return rows.select(*OUTPUT.schema.names)
    finally:
        spark.catalog.dropTempView(f"tl_usage_events_{tag}")
        spark.catalog.dropTempView(f"tl_usage_ids_{tag}")


def _counts(events: DataFrame, rows: DataFrame) -> dict[str, int]:
    """Bad-input counters of one computation (each is handled; none stops the job)."""
    runs_in = events.select("run_id").distinct().count()
    stats = rows.selectExpr(
        "count(DISTINCT run_id) AS runs_with_steps",
        "count_if(NOT resolved) AS unresolved_rows",
        "coalesce(sum(backwards_uses), 0) AS backwards_uses",
    ).first()
    return _counters(
        runs_in, stats["runs_with_steps"], stats["unresolved_rows"], stats["backwards_uses"]
    )


def _arrow_counts(events: pa.Table, rows: pa.Table) -> dict[str, int]:
    """`_counts` of a computation held in this process (no Spark job)."""
    return _counters(
        pc.count_distinct(events["run_id"]).as_py(),
        pc.count_distinct(rows["run_id"]).as_py(),
        pc.sum(pc.invert(rows["resolved"])).as_py() or 0,
        pc.sum(rows["backwards_uses"]).as_py() or 0,
    )


def _counters(runs_in: int, runs_with_steps: int, unresolved: int, backwards: int) -> dict:
    return {
        "runs": runs_in,
        "runs_without_components": runs_in - runs_with_steps,
        "unresolved_component_rows": unresolved,
        "version_backwards_events": backwards,
    }


@dataclass(frozen=True)
class ComponentUsage:
    """The IncrementalJob for silver.component_usage (see the module docstring)."""

    name: str = JOB_NAME
    sources: tuple = (EVENTS_SOURCE,)
    output: catalog.TableSpec = OUTPUT

    def compute(self, job: JobInput) -> JobOutput:
        src = job.range(EVENTS_SOURCE)
        spark, lake = job.spark, job.ctx.lake

        def events(**kw) -> DataFrame:
            return spark_io.read(spark, EVENTS_SOURCE, lake=lake, columns=EVENT_COLUMNS, **kw)

        if job.full or src.is_full:
            all_events = events(version=src.upto)
            # computed once: counted here, then written by the runner
            rows = usage(all_events).localCheckpoint()
            return JobOutput(
                rows.repartition(1).sortWithinPartitions("run_id"),
                mode="overwrite",
                details=_counts(all_events, rows),
            )
        affected = _new_run_ids(job)
        if not affected:
            return JobOutput(_empty(job), details={"runs_affected": 0})
        in_range = [In(("run_id",), tuple(affected))]
        local = _read_small_arrow(
            job,
            EVENTS_SOURCE,
            EVENT_COLUMNS,
            version=src.upto,
            filters=in_range,
            expression=pc.field("run_id").isin(pa.array(affected, pa.string())),
        )
        touched = _files_holding(job, affected, OUTPUT)
        details: dict = {"runs_affected": len(affected), "files_rewritten": len(touched)}
        kept_local = (
            _read_small_arrow(
                job, OUTPUT, OUTPUT.schema.names, version=lake.version(OUTPUT), only_files=touched
            )
            if touched
            else OUTPUT.schema.empty_table()
        )
        if local is not None and kept_local is not None:
            # A small increment is held here: one Spark execution computes it, the counts and
            # the rewrite happen in Arrow, and the driver writes it (a checkpoint, the counts
            # and a Spark write were four more Spark jobs).
            rows = usage(spark_io.from_arrow(spark, local), distinct_names(local))
            computed = spark_io.to_arrow(rows, OUTPUT.schema)
            kept = kept_local.filter(
                pc.invert(pc.is_in(kept_local["run_id"], pa.array(affected, pa.string())))
            )
            details.update(_arrow_counts(local, computed))
            return JobOutput(
                pa.concat_tables([kept.cast(OUTPUT.schema), computed]).sort_by("run_id"),
                replace_files=touched,
                details=details,
            )
        prior = (
            spark_io.from_arrow(spark, local)
            if local is not None
            else _read_only(lambda **kw: events(version=src.upto, **kw), "run_id", affected)
        )
        rows = usage(prior).localCheckpoint()
        details.update(_counts(prior, rows))
        if touched:
            kept_rows = (
                spark_io.from_arrow(spark, kept_local)
                if kept_local is not None
                else spark_io.read(spark, OUTPUT, lake=lake, files=touched)
            )
            rows = _exclude(kept_rows, "run_id", affected).unionByName(rows)
        return JobOutput(
            rows.repartition(1).sortWithinPartitions("run_id"),
            replace_files=touched,
            details=details,
        )


def _new_run_ids(job: JobInput) -> list[str]:
    lake, src = job.ctx.lake, job.range(EVENTS_SOURCE)
    plan = plan_scan(
        lake.uri(EVENTS_SOURCE), lake.storage_options, version=src.upto, after_version=src.after
    )
    if sum(f.num_records or 0 for f in plan.files) <= LOCAL_READ_MAX_ROWS:
        ids = read_arrow(
            lake.uri(EVENTS_SOURCE),
            lake.storage_options,
            plan.files,
            pa.schema([EVENTS_SOURCE.schema.field("run_id")]),
        )["run_id"]
        return sorted(pc.unique(ids).to_pylist())
    new = spark_io.read(
        job.spark,
        EVENTS_SOURCE,
        lake=lake,
        columns=["run_id"],
        version=src.upto,
        after_version=src.after,
    )
    return sorted(r[0] for r in new.distinct().collect())


def _files_holding(job: JobInput, run_ids: list[str], spec: catalog.TableSpec) -> list[str]:
    """The data files of `spec` (keyed by run_id) that hold rows of these runs."""
    lake = job.ctx.lake
    version = lake.version(spec)
    if version is None:
        return []
    uri = lake.uri(spec)
    plan = plan_scan(uri, lake.storage_options, version=version)
    if not plan.files:
        return []
    schema = pa.schema([spec.schema.field("run_id")])
    table = read_arrow(uri, lake.storage_options, plan.files, schema, FILE_COLUMN)
    hit = table.filter(pc.is_in(table["run_id"], pa.array(run_ids, pa.string())))
    return sorted(set(hit[FILE_COLUMN].to_pylist()))


def _empty(job: JobInput) -> DataFrame:
    return job.spark.createDataFrame([], spark_io.spark_schema(OUTPUT.schema))


JOB = ComponentUsage()


def run(ctx: JobContext, full: bool = False) -> JobResult:
    """Bring silver.component_usage up to date with the events (full=True: recompute)."""
    return run_job(ctx, JOB, full=full)
