"""silver.run_roles: one row per run: its role sequence (docs/patterns.md), outcome, scenario
and duration: what the patterns and run_patterns jobs read instead of the events.

Built incrementally like silver.component_usage: the runs that gained events since the
bookmark are recomputed from all their events (a late event can change a run's roles), and the
files holding those runs are rewritten in the same commit. Full run: every event. Changing
`patterns.roles_file` changes every run's roles: rebuild with `--full` then.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql.datasource import In

from ..context import JobContext, JobResult
from ..lake import catalog, spark_io
from ..runner import JobInput, JobOutput, run_job
from . import _mining
from ._sources import EVENTS_SOURCE
from .component_usage import _files_holding, _new_run_ids
from .roles import load_rules
from .runs import _exclude, _read_only, _read_small

JOB_NAME = "run_roles"
OUTPUT = catalog.SILVER_RUN_ROLES


@dataclass(frozen=True)
class RunRoles:
    """The IncrementalJob for silver.run_roles (see the module docstring)."""

    name: str = JOB_NAME
    sources: tuple = (EVENTS_SOURCE,)
    output: catalog.TableSpec = OUTPUT

    def compute(self, job: JobInput) -> JobOutput:
        src = job.range(EVENTS_SOURCE)
        spark, lake = job.spark, job.ctx.lake
        rules = load_rules(job.ctx.settings.patterns.roles_file)

        def events(**kw):
            return spark_io.read(
                spark, EVENTS_SOURCE, lake=lake, columns=_mining.EVENT_COLUMNS, **kw
            )

        if job.full or src.is_full:
            rows = _mining.run_sequences(events(version=src.upto), rules).localCheckpoint()
            return JobOutput(
                rows.repartition(1).sortWithinPartitions("run_id"),
                mode="overwrite",
                details={"runs": rows.count()},
            )
        affected = _new_run_ids(job)
        if not affected:
            empty = spark.createDataFrame([], spark_io.spark_schema(OUTPUT.schema))
            return JobOutput(empty, details={"runs_affected": 0})
        prior = _read_small(
            job,
            EVENTS_SOURCE,
            _mining.EVENT_COLUMNS,
            version=src.upto,
            filters=[In(("run_id",), tuple(affected))],
            expression=pc.field("run_id").isin(pa.array(affected, pa.string())),
        )
        if prior is None:
            prior = _read_only(lambda **kw: events(version=src.upto, **kw), "run_id", affected)
        rows = _mining.run_sequences(prior, rules).localCheckpoint()
        touched = _files_holding(job, affected, OUTPUT)
        if touched:
            kept = _read_small(
                job, OUTPUT, OUTPUT.schema.names, version=lake.version(OUTPUT), only_files=touched
            )
            if kept is None:
                kept = spark_io.read(spark, OUTPUT, lake=lake, files=touched)
            rows = _exclude(kept, "run_id", affected).unionByName(rows)
        return JobOutput(
            rows.repartition(1).sortWithinPartitions("run_id"),
            replace_files=touched,
            details={"runs_affected": len(affected), "files_rewritten": len(touched)},
        )


JOB = RunRoles()


def run(ctx: JobContext, full: bool = False) -> JobResult:
    """Bring silver.run_roles up to date with the events (full=True: recompute)."""
    return run_job(ctx, JOB, full=full)
