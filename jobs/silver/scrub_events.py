"""bronze.events -> silver.events: every event with its free text scrubbed (secrets and personal
data replaced by typed, stable placeholders), incrementally and exactly once.

Bronze is append-only, so the bronze versions after the bookmark hold exactly the new events:
an incremental run scrubs those and appends them, with the bookmark, in one commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..context import JobContext, JobResult
from ..lake import catalog
from ..runner import JobInput, JobOutput, run_job
from .scrubbing import scrub

JOB_NAME = "scrub_events"


@dataclass(frozen=True)
class ScrubEvents:
    name: str = JOB_NAME
    sources: tuple = (catalog.BRONZE_EVENTS,)
    output: catalog.TableSpec = catalog.SILVER_EVENTS

    def compute(self, job: JobInput) -> JobOutput:
        rows, mode, local = scrub(job, "events")
        # A local batch is small: one write task. A Spark-scrubbed one: one file set per day.
        rows = rows.coalesce(1) if local else rows.repartition("event_date")
        return JobOutput(rows, mode=mode)


JOB = ScrubEvents()


def run(ctx: JobContext, full: bool = False) -> JobResult:
    """Bring silver.events up to date with bronze.events (or rescrub it all with full=True)."""
    return run_job(ctx, JOB, full=full)
