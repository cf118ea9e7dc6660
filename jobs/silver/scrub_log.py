"""bronze.events -> ops.scrub_log: one row per value the scrub replaces in silver.events (run,
event, field path, kind, detector, placeholder; never the value), incrementally and exactly
once. It scrubs the same bronze versions as scrub_events with the same keys (see scrubbing.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..context import JobContext, JobResult
from ..lake import catalog
from ..runner import JobInput, JobOutput, run_job
from .scrubbing import scrub

JOB_NAME = "scrub_log"


@dataclass(frozen=True)
class ScrubLog:
    name: str = JOB_NAME
    sources: tuple = (catalog.BRONZE_EVENTS,)
    output: catalog.TableSpec = catalog.OPS_SCRUB_LOG

    def compute(self, job: JobInput) -> JobOutput:
        rows, mode, _ = scrub(job, "log")
        return JobOutput(rows.coalesce(1), mode=mode)


JOB = ScrubLog()


def run(ctx: JobContext, full: bool = False) -> JobResult:
    """Bring ops.scrub_log up to date with bronze.events (or rebuild it with full=True)."""
    return run_job(ctx, JOB, full=full)
