"""silver.synthetic_runs: scenario expansion of seed runs (see ..expand.spark_job)."""

from __future__ import annotations

from ..context import JobContext, JobResult
from ..expand.spark_job import ExpandJob
from ..lake import catalog
from ..runner import run_job

JOB_NAME = "synthetic_runs"
JOB = ExpandJob(JOB_NAME, catalog.SILVER_SYNTHETIC_RUNS, "runs")


def run(ctx: JobContext, full: bool = False) -> JobResult:
    return run_job(ctx, JOB, full=full)
