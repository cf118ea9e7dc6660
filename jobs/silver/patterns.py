"""silver.patterns: frequent closed workflow patterns over the role sequences of real runs.

The role sequences come from silver.run_roles (one row per run, kept incrementally by the
run_roles job), never from the events. Mining re-runs in full on every build over those
sequences (a relative support threshold moves with every increment); the job result says so.
Synthetic runs are never mined.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..context import JobContext, JobResult
from ..lake import catalog, spark_io
from ..runner import JobInput, JobOutput, run_job
from . import _mining
from .runs import _read_small

JOB_NAME = "patterns"
OUTPUT = catalog.SILVER_PATTERNS
RUN_ROLES = catalog.SILVER_RUN_ROLES
REMINED = "re-mined in full (a relative support threshold moves with every increment)"


def mined_runs(job: JobInput):
    """Role sequences of every run (silver.run_roles at the version this run reads)."""
    src = job.range(RUN_ROLES)
    # one small row per run: read in this process (a Spark scan costs more) unless too many
    runs = _read_small(job, RUN_ROLES, RUN_ROLES.schema.names, version=src.upto)
    if runs is None:
        runs = spark_io.read(job.spark, RUN_ROLES, lake=job.ctx.lake, version=src.upto)
    return runs.cache()


def mine_patterns(job: JobInput, runs) -> tuple[list[dict], dict]:
    cfg = job.ctx.settings.patterns
    patterns, n = _mining.mine(runs, cfg.min_support, cfg.max_length, cfg.min_length)
    groups = _mining.sequence_groups(runs, cfg.example_runs)
    rows = _mining.describe(
        patterns,
        groups,
        n,
        cfg.min_support,
        job.ctx.settings.lineage.confidence,
        cfg.example_runs,
    )
    return rows, patterns


def sequence_counts(runs) -> dict[str, int]:
    """What the mining could not use, counted (never dropped silently)."""
    r = runs.selectExpr(
        "count(*) AS runs",
        "count_if(synthetic) AS synthetic_runs",
        "count_if(n_steps = 0) AS runs_without_steps",
        "count_if(n_steps > 0 AND size(roles) = 0) AS runs_only_unknown_steps",
        "coalesce(sum(unknown_steps), 0) AS unknown_steps",
        "coalesce(sum(n_steps), 0) AS steps",
        "coalesce(sum(parallel_blocks), 0) AS parallel_blocks",
    ).first()
    return r.asDict()


@dataclass(frozen=True)
class Patterns:
    name: str = JOB_NAME
    sources: tuple = (RUN_ROLES,)
    output: catalog.TableSpec = OUTPUT

    def compute(self, job: JobInput) -> JobOutput:
        runs = mined_runs(job)
        try:
            rows, _ = mine_patterns(job, runs)
            details = {"note": REMINED, "patterns": len(rows), **sequence_counts(runs)}
        finally:
            runs.unpersist()
        data = job.spark.createDataFrame(rows, spark_io.spark_schema(OUTPUT.schema))
        return JobOutput(data.repartition(1), mode="overwrite", details=details)


JOB = Patterns()


def run(ctx: JobContext, full: bool = False) -> JobResult:
    """Re-mine silver.patterns from silver.run_roles."""
    return run_job(ctx, JOB, full=full)
