"""silver.patterns: frequent closed workflow patterns over the role sequences of real runs.

Mining re-runs in full on every build (role sequences are small, and a relative support
threshold moves with every increment); the job result says so. Synthetic runs are never mined.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..context import JobContext, JobResult
from ..lake import catalog, spark_io
from ..runner import JobInput, JobOutput, run_job
from . import _mining
from ._sources import EVENTS_SOURCE
from .roles import load_rules

JOB_NAME = "patterns"
OUTPUT = catalog.SILVER_PATTERNS
REMINED = "re-mined in full (a relative support threshold moves with every increment)"


def mined_runs(job: JobInput):
    """Role sequences of every run of the events snapshot this run reads."""
    src = job.range(EVENTS_SOURCE)
    events = spark_io.read(
        job.spark,
        EVENTS_SOURCE,
        lake=job.ctx.lake,
        columns=_mining.EVENT_COLUMNS,
        version=src.upto,
    )
    rules = load_rules(job.ctx.settings.patterns.roles_file)
    return _mining.run_sequences(events, rules).cache()


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
    sources: tuple = (EVENTS_SOURCE,)
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
    """Re-mine silver.patterns from the events."""
    return run_job(ctx, JOB, full=full)
