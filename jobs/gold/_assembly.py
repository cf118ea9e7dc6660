"""What the gold.examples and gold.rejected jobs share: reading runs' events from both event
tables with the facts assembly needs, running `assemble` per run on Spark, and finding which runs
an incremental run must re-assemble.

Both jobs run the same deterministic assembly over the same runs, each keeping its own half
(one output table per job), so read = examples + rejected holds table by table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from ..lake import catalog, spark_io
from ..lake.delta_source import plan_scan, read_arrow
from ..quality.rows import row_filter
from ..runner import JobInput, JobOutput
from .assemble import Assembled, RunFacts, assemble, stable_id

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

REAL_EVENTS = catalog.SILVER_EVENTS
SYNTHETIC_EVENTS = catalog.SILVER_SYNTHETIC_EVENTS
EVENT_SOURCES = (REAL_EVENTS, SYNTHETIC_EVENTS)
FILE_COLUMN = "_tracelake_file"
EVENT_COLUMNS = (
    "event_id",
    "parent_event_id",
    "run_id",
    "seq",
    "ts",
    "event_type",
    "component_name",
    "component_kind",
    "component_version",
    "action",
    "input",
    "output",
    "state_change",
    "reasoning",
    "status",
    "error",
    "error_type",
    "cost_usd",
    "goal",
    "scenario",
    "scenario_level",
    "attributes",
)
FACT_COLUMNS = ("_synthetic", "_pattern", "_seed_run_id", "_lineage_goal", "_versions")
# gold.rejected's stage of examples that failed a row-level rule of gold.examples' contract;
# the gold.rejected job owns these rows with assembly's (both come from the same assembly).
CONTRACT_STAGE = "contract"
# gold.rejected's `reason` lists every failed rule, cut to this many characters.
_REASON_CHARS = 500


def versions_read(job: JobInput) -> str:
    return json.dumps({k: r.upto for k, r in sorted(job.ranges.items())}, sort_keys=True)


def new_run_ids(job: JobInput) -> list[str]:
    """Runs that gained events in either event table since the bookmarks."""
    lake, found = job.ctx.lake, set()
    for spec in EVENT_SOURCES:
        src = job.range(spec)
        if not src.is_full and src.after >= src.upto:  # type: ignore[operator]
            continue
        plan = plan_scan(
            lake.uri(spec), lake.storage_options, version=src.upto, after_version=src.after
        )
        ids = read_arrow(
            lake.uri(spec),
            lake.storage_options,
            plan.files,
            pa.schema([spec.schema.field("run_id")]),
        )["run_id"]
        found.update(pc.unique(ids).to_pylist())
    return sorted(found)


def files_holding(job: JobInput, output: catalog.TableSpec, run_ids: Sequence[str]) -> list[str]:
    """The output's data files holding rows of these runs."""
    if not run_ids:
        return []
    wanted = pa.array(list(run_ids), pa.string())
    return output_files_where(job, output, ("run_id",), lambda t: pc.is_in(t["run_id"], wanted))


def _events(job: JobInput, run_ids: Sequence[str] | None) -> DataFrame:
    from pyspark.sql import functions as F

    where = [("run_id", "in", list(run_ids))] if run_ids is not None else []
    frames = []
    for spec in EVENT_SOURCES:
        df = spark_io.read(
            job.spark,
            spec,
            lake=job.ctx.lake,
            columns=EVENT_COLUMNS,
            version=job.range(spec).upto,
            where=where,
        )
        frames.append(df.withColumn("_synthetic", F.lit(spec is SYNTHETIC_EVENTS)))
    return frames[0].unionByName(frames[1])


def _facts(job: JobInput, events: DataFrame, with_patterns: bool) -> DataFrame:
    """Per run: its pattern, its seed (synthetic runs) and the goal of its lineage root."""
    from pyspark.sql import functions as F

    starts = events.where(F.col("event_type") == "run_started")
    seeds = starts.select("run_id", F.col("attributes")["seed_run_id"].alias("_seed_run_id")).where(
        F.col("_seed_run_id").isNotNull()
    )
    seed_ids = [r[0] for r in seeds.select("_seed_run_id").distinct().collect()]
    seed_goals = (
        spark_io.read(
            job.spark,
            REAL_EVENTS,
            lake=job.ctx.lake,
            columns=["run_id", "seq", "goal"],
            version=job.range(REAL_EVENTS).upto,
            where=[("run_id", "in", seed_ids)],
        )
        .where(F.col("goal").isNotNull())
        .groupBy("run_id")
        .agg(F.min_by("goal", "seq").alias("_lineage_goal"))
        .withColumnRenamed("run_id", "_seed_run_id")
    )
    facts = (
        events.select("run_id").distinct().join(seeds.dropDuplicates(["run_id"]), "run_id", "left")
    )
    facts = facts.join(seed_goals, "_seed_run_id", "left")
    if with_patterns:
        patterns = spark_io.read(
            job.spark,
            catalog.SILVER_RUN_PATTERNS,
            lake=job.ctx.lake,
            columns=["run_id", "pattern_name"],
            version=job.range(catalog.SILVER_RUN_PATTERNS).upto,
        ).withColumnRenamed("pattern_name", "_pattern")
        facts = facts.join(patterns, "run_id", "left")
    else:
        facts = facts.withColumn("_pattern", F.lit(None).cast("string"))
    return facts.withColumn("_versions", F.lit(versions_read(job)))


def checked(out: Assembled) -> Assembled:
    """Assembly's example, unless it fails a row-level rule of gold.examples' contract: then a
    gold.rejected row (stage `contract`) whose reason code is the first failed rule's name.

    Both gold jobs run this on the same assembly, so read = examples + rejected still holds and
    the version gold_examples commits normally passes its gate (which only blocks)."""
    example = out.example
    if example is None:
        return out
    failed = row_filter(catalog.GOLD_EXAMPLES.qualified_name).failures(example)
    if not failed:
        return out
    return Assembled(rejected=example_reject(example, CONTRACT_STAGE, failed))


def failed_reason(failed: list[tuple[str, str]]) -> str:
    """gold.rejected's `reason` for failed contract rules: every (name, why), cut to length."""
    return "; ".join(f"{name}: {why}" for name, why in failed)[:_REASON_CHARS]


def example_reject(
    example: dict[str, Any], stage: str, failed: list[tuple[str, str]]
) -> dict[str, Any]:
    """The gold.rejected row (stage `stage`) of an example that failed the contract's row-level
    rules `failed` ((name, why) pairs): its reason code is the first rule's name."""
    return {
        "reject_id": stable_id(stage, example["run_id"]),
        "stage": stage,
        "run_id": example["run_id"],
        "synthetic": example["synthetic"],
        "reason_code": failed[0][0],
        "reason": failed_reason(failed),
        "event_ids": example["event_ids"],
        "source_versions": example["source_versions"],
    }


def examples_passing(
    examples: list[dict[str, Any]], stage: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the examples passing every row-level rule of gold.examples' contract, the gold.rejected
    rows of `stage` of those that do not)."""
    keep = row_filter(catalog.GOLD_EXAMPLES.qualified_name)
    passed, rejected = [], []
    for example in examples:
        failed = keep.failures(example)
        if failed:
            rejected.append(example_reject(example, stage, failed))
        else:
            passed.append(example)
    return passed, rejected


def replace_stage(job: JobInput, stage: str, rows: list[dict[str, Any]], job_name: str) -> None:
    """Make gold.rejected's rows of `stage` exactly `rows`, for a job that re-derives the stage
    whole; written before the job's own commit (a retry derives the same rows), and no commit
    at all when the stage already holds them."""
    lake, spec = job.ctx.lake, catalog.GOLD_REJECTED
    table = lake.ensure(spec)
    held = lake.read(spec, columns=["stage", "reject_id"]).to_pylist()
    if {r["reject_id"] for r in held if r["stage"] == stage} == {r["reject_id"] for r in rows}:
        return
    table.delete(f"stage = '{stage}'")
    if rows:
        lake.append(spec, pa.Table.from_pylist(rows, spec.schema), metadata={"job": job_name})


def assemble_tables(kind: str, validation: float, test: float) -> Callable[[pa.Table], pa.Table]:
    """The applyInArrow function: one run's events (with its facts) -> its row of `kind`."""

    def run(table: pa.Table) -> pa.Table:
        spec = catalog.GOLD_EXAMPLES if kind == "examples" else catalog.GOLD_REJECTED
        rows = table.to_pylist()
        first = rows[0]
        facts = RunFacts(
            synthetic=bool(first["_synthetic"]),
            seed_run_id=first["_seed_run_id"],
            lineage_goal=first["_lineage_goal"],
            pattern=first["_pattern"],
            source_versions=first["_versions"],
        )
        out = checked(assemble(rows, facts, validation=validation, test=test))
        row = out.example if kind == "examples" else out.rejected
        return pa.Table.from_pylist([row] if row else [], schema=spec.schema)

    return run


def assembled(
    job: JobInput,
    output: catalog.TableSpec,
    kind: str,
    run_ids: Sequence[str] | None,
    *,
    validation: float = 0.1,
    test: float = 0.1,
) -> DataFrame:
    """The `kind` rows (examples or rejected) of these runs (None: every run)."""
    events = _events(job, run_ids)
    facts = _facts(job, events, with_patterns=kind == "examples")
    return (
        events.join(facts, "run_id", "left")
        .groupBy("run_id")
        .applyInArrow(assemble_tables(kind, validation, test), spark_io.spark_schema(output.schema))
    )


def incremental_output(
    job: JobInput,
    output: catalog.TableSpec,
    rows_for: Callable[[Sequence[str] | None], DataFrame],
    extra_runs: Iterable[str] = (),
    others: str | None = None,
) -> tuple[JobOutput | None, list[str]]:
    """Full run: every run, overwrite. Incremental: the runs with new events (and `extra_runs`)
    re-assembled; the output files holding them are rewritten in the same commit.

    others: a SQL condition on output rows this job does not own (rows other stages appended);
    they are kept as they are, in full runs too."""
    from pyspark.sql import functions as F

    if job.full or any(r.is_full for r in job.ranges.values()):
        rows = rows_for(None)
        if others and job.ctx.lake.version(output) is not None:
            kept = spark_io.read(job.spark, output, lake=job.ctx.lake).where(others)
            rows = kept.unionByName(rows)
        rows = rows.localCheckpoint()
        return JobOutput(rows.repartition(1).sortWithinPartitions("run_id"), mode="overwrite"), []
    affected = sorted(set(new_run_ids(job)) | set(extra_runs))
    if not affected:
        return None, []
    rows = rows_for(affected)
    touched = files_holding(job, output, affected)
    if touched:
        kept = spark_io.read(job.spark, output, lake=job.ctx.lake, files=touched)
        keep = ~F.col("run_id").isin(affected)
        if others:
            keep = keep | F.expr(others)
        rows = kept.where(keep).unionByName(rows)
    rows = rows.localCheckpoint()
    return (
        JobOutput(rows.repartition(1).sortWithinPartitions("run_id"), replace_files=touched),
        affected,
    )


def empty(job: JobInput, output: catalog.TableSpec) -> DataFrame:
    return spark_io.from_arrow(job.spark, output.schema.empty_table())


def counts(rows: DataFrame, column: str) -> dict[str, int]:
    return {str(r[0]): int(r[1]) for r in rows.groupBy(column).count().collect()}


def as_details(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, {})}


def changed_families(
    job: JobInput, examples: catalog.TableSpec
) -> tuple[set[str], set[str]] | None:
    """Scenario families whose examples changed since the job's bookmark on `examples` (rows
    added, rewritten or removed), and the runs of those changed rows: what a job deriving
    per-family rows (pairs) must redo. None: redo everything (a full run, or files the diff
    needs are gone, e.g. vacuumed)."""
    src = job.range(examples)
    if job.full or src.is_full:
        return None
    if src.after >= src.upto:  # type: ignore[operator]
        return set(), set()
    lake = job.ctx.lake
    uri, options = lake.uri(examples), lake.storage_options
    now = plan_scan(uri, options, version=src.upto).files
    before = plan_scan(uri, options, version=src.after).files
    now_paths, before_paths = {f.path for f in now}, {f.path for f in before}
    schema = pa.schema([examples.schema.field("run_id"), examples.schema.field("family_key")])
    families: set[str] = set()
    runs: set[str] = set()
    for files in (
        [f for f in now if f.path not in before_paths],
        [f for f in before if f.path not in now_paths],
    ):
        if not files:
            continue
        try:
            rows = read_arrow(uri, options, files, schema)
        except OSError:  # FileNotFoundError included
            return None
        families.update(k for k in pc.unique(rows["family_key"]).to_pylist() if k is not None)
        runs.update(rows["run_id"].to_pylist())
    return families, runs


def families_of(job: JobInput, examples: catalog.TableSpec, run_ids: Iterable[str]) -> set[str]:
    """The families of these runs' examples (at the version the job reads)."""
    wanted = sorted(set(run_ids))
    if not wanted:
        return set()
    lake = job.ctx.lake
    uri, options = lake.uri(examples), lake.storage_options
    plan = plan_scan(uri, options, version=job.range(examples).upto)
    schema = pa.schema([examples.schema.field("run_id"), examples.schema.field("family_key")])
    table = read_arrow(uri, options, plan.files, schema)
    hit = table.filter(pc.is_in(table["run_id"], pa.array(wanted, pa.string())))
    return set(hit["family_key"].to_pylist())


def output_files_where(
    job: JobInput,
    output: catalog.TableSpec,
    columns: Sequence[str],
    keep: Callable[[pa.Table], Any],
) -> list[str]:
    """The output's data files holding a row for which `keep(table)` (an Arrow mask over
    `columns`) is true."""
    lake = job.ctx.lake
    version = lake.version(output)
    if version is None:
        return []
    uri = lake.uri(output)
    plan = plan_scan(uri, lake.storage_options, version=version)
    if not plan.files:
        return []
    schema = pa.schema([output.schema.field(c) for c in columns])
    table = read_arrow(uri, lake.storage_options, plan.files, schema, FILE_COLUMN)
    hit = table.filter(keep(table))
    return sorted(set(hit[FILE_COLUMN].to_pylist()))


def _pair_rejects(table: str, stage: str, versions: str) -> Callable[[Iterable[Any]], Any]:
    """mapInArrow: each pair row failing a row-level rule of `table`'s contract -> its
    gold.rejected row (stage `stage`, run_id the pair's id, reason code the first rule's name)."""

    def run(batches: Iterable[Any]) -> Iterable[pa.RecordBatch]:
        keep = row_filter(table)
        for batch in batches:
            out = []
            for row in batch.to_pylist():
                failed = keep.failures(row)
                if not failed:
                    continue
                out.append(
                    {
                        "reject_id": stable_id(stage, row["pair_id"]),
                        "stage": stage,
                        "run_id": row["pair_id"],
                        "synthetic": row.get("seed_run_id") is not None,
                        "reason_code": failed[0][0],
                        "reason": failed_reason(failed),
                        "event_ids": list(row.get("chosen_event_ids") or [])
                        + list(row.get("rejected_event_ids") or []),
                        "source_versions": versions,
                    }
                )
            yield from pa.Table.from_pylist(out, catalog.GOLD_REJECTED.schema).to_batches()

    return run


def contract_filtered(
    job: JobInput,
    rows: DataFrame,
    output: catalog.TableSpec,
    stage: str,
    *,
    job_name: str,
    full: bool,
) -> tuple[DataFrame, int]:
    """The pair rows that pass every row-level rule of `output`'s contract (the rules its gate
    runs, under the same names: jobs/quality/rows.py), and how many failed one. Each failed pair
    becomes a gold.rejected row of `stage` (run_id: the pair's id), written before the job's own
    commit as curation writes its side rows: a full run replaces the stage's rows (delete, then
    append: idempotent as a pair), an incremental one appends those not there yet under an app
    transaction (job, source versions), so a retry writes nothing twice, and drops the rows of
    pairs it derived again that now pass.

    rows: the job's rows, already checkpointed (the check reads them once more, not the plan)."""
    from pyspark.sql import functions as F

    versions = versions_read(job)
    failed = (
        rows.mapInArrow(
            _pair_rejects(output.qualified_name, stage, versions),
            spark_io.spark_schema(catalog.GOLD_REJECTED.schema),
        )
        .toArrow()
        .cast(catalog.GOLD_REJECTED.schema)
    )
    lake, spec = job.ctx.lake, catalog.GOLD_REJECTED
    meta = {"job": job_name}
    if full:
        lake.ensure(spec).delete(f"stage = '{stage}'")
        if failed.num_rows:
            lake.append(spec, failed, metadata=meta)
    else:
        table = lake.ensure(spec)
        held = lake.read(spec, columns=["stage", "run_id"]).to_pylist()
        already = {r["run_id"] for r in held if r["stage"] == stage}
        # A pair rejected before that this run derived again and now passes (its examples were
        # fixed): its old gold.rejected row goes, as a full run would drop it.
        if already:
            derived = {r[0] for r in rows.select("pair_id").collect()}
            fixed = sorted((derived & already) - set(failed["run_id"].to_pylist()))
            if fixed:
                listed = ", ".join("'" + i.replace("'", "''") + "'" for i in fixed)
                table.delete(f"stage = '{stage}' AND run_id IN ({listed})")
        known = pa.array(sorted(already), pa.string())
        new = failed.filter(pc.invert(pc.is_in(failed["run_id"], value_set=known)))
        if new.num_rows:
            # sources only move forward: their versions' sum names this input
            upto = sum(r.upto or 0 for r in job.ranges.values())
            lake.append(spec, new, app_txn=(f"{job_name}:{stage}", upto), metadata=meta)
    if failed.num_rows:
        rows = rows.where(~F.col("pair_id").isin(failed["run_id"].to_pylist()))
    return rows, failed.num_rows
