"""The runner with a job that reads two sources, only one of which moves."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pytest
from eventlines import event, write_lines

from tracelake.jobs.ingest import job as ingest
from tracelake.jobs.lake import catalog, spark_io
from tracelake.jobs.runner import JobOutput, run_job

pytestmark = pytest.mark.spark

COUNTS = catalog.TableSpec(
    tier="silver", name="test_two_sources", schema=pa.schema([pa.field("events", pa.int64())])
)


@dataclass(frozen=True)
class CountNewEvents:
    """Appends how many events arrived since the last run; also declares the quarantine."""

    name: str = "count_new_events"
    sources: tuple = (catalog.BRONZE_EVENTS, catalog.BRONZE_QUARANTINE)
    output: catalog.TableSpec = COUNTS

    def compute(self, job):
        events = job.range(catalog.BRONZE_EVENTS)
        n = spark_io.read(
            job.spark,
            catalog.BRONZE_EVENTS,
            lake=job.ctx.lake,
            version=events.upto,
            after_version=events.after,
        ).count()
        return JobOutput(job.spark.createDataFrame([(n,)], "events long"))


def test_a_job_runs_again_when_only_one_of_its_sources_moved(spark, ctx, tmp_path):
    first = write_lines(tmp_path / "a.jsonl", [event(i) for i in range(3)] + [b"not json"])
    ingest.run(ctx, [str(first)])
    assert run_job(ctx, CountNewEvents(), spark=spark).status == "succeeded"

    second = write_lines(tmp_path / "b.jsonl", [event(i, run="r2") for i in range(4)])
    ingest.run(ctx, [str(second)])  # bronze.events moves, bronze.quarantine does not
    result = run_job(ctx, CountNewEvents(), spark=spark)

    assert result.status == "succeeded", result.message
    counts = sorted(ctx.lake.read(COUNTS)["events"].to_pylist())
    assert counts == [3, 4]
    assert ctx.lake.txn_version(COUNTS, "count_new_events") == ctx.lake.version(
        catalog.BRONZE_EVENTS
    )
    assert run_job(ctx, CountNewEvents(), spark=spark).status == "noop"
