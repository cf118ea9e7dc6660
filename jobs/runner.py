"""The incremental, exactly-once job runner.

A derived job declares its source tables and its output table. The runner:
  1. reads the job's bookmarks: the Delta app transactions on the OUTPUT table
     (app_id = job name, version = last source version consumed; a second source's bookmark
     is `<job>:<tier.name>`), never a side file;
  2. compares them with the sources' current versions: nothing new -> a `noop` run, no write;
  3. hands the job the version ranges to read (after the bookmark, up to the current version),
     or the whole sources for a full run (first run, or `full=True`: a rebuild);
  4. writes the job's output and the new bookmarks in ONE Delta commit, so a crash anywhere
     leaves either both or neither; a retry of a run that did commit finds its bookmark and
     writes nothing;
  5. appends one ops.job_runs row (versions read and written, rows in and out, duration).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tracelake.schemas.records import WriteMode

from .context import JobContext, JobResult, recorded_job_run
from .lake.catalog import TableSpec

# No pyspark here: the Spark-side modules (lake.spark_io, lake.delta_source) are imported only
# once a run has work to do, so checking bookmarks and no-op runs stay light (a test checks).

if TYPE_CHECKING:
    import pyarrow as pa
    from pydantic import BaseModel
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class SourceRange:
    """What a run reads from one source: versions (after, upto]; after=None means all of it."""

    spec: TableSpec
    after: int | None
    upto: int

    @property
    def is_full(self) -> bool:
        return self.after is None

    @property
    def first(self) -> int:
        return 0 if self.after is None else self.after + 1


@dataclass
class JobInput:
    spark: SparkSession
    ctx: JobContext
    ranges: dict[str, SourceRange]  # by source qualified name
    full: bool
    # The job's validated parameters (its `params` model, or registry.DerivedParams).
    params: BaseModel | None = None

    def range(self, spec: TableSpec) -> SourceRange:
        return self.ranges[spec.qualified_name]


@dataclass
class JobOutput:
    """What a job hands back for the runner to commit."""

    # An Arrow table for a result computed in the driver: written without a Spark job.
    data: DataFrame | pa.Table
    mode: WriteMode = "append"  # "overwrite" for full recomputes
    replace_files: Sequence[str] = ()
    details: dict[str, Any] = field(default_factory=dict)
    # More commit metadata (string values), e.g. that the rows passed the contract's row filter.
    metadata: dict[str, str] = field(default_factory=dict)


class IncrementalJob(Protocol):
    name: str
    sources: tuple[TableSpec, ...]
    output: TableSpec

    def compute(self, job_input: JobInput) -> JobOutput: ...


def bookmark_app_id(job: IncrementalJob, source: TableSpec) -> str:
    if source.qualified_name == job.sources[0].qualified_name:
        return job.name
    return f"{job.name}:{source.qualified_name}"


def pending_ranges(
    ctx: JobContext, job: IncrementalJob, full: bool
) -> dict[str, SourceRange] | None:
    """Source ranges still to consume, or None when a source does not exist yet."""
    ranges = {}
    for source in job.sources:
        current = ctx.lake.version(source)
        if current is None:
            return None
        bookmark = None if full else ctx.lake.txn_version(job.output, bookmark_app_id(job, source))
        ranges[source.qualified_name] = SourceRange(source, bookmark, current)
    return ranges


def _rows_in(ctx: JobContext, source: SourceRange) -> int:
    """Rows committed to the source in the range, from the Delta log (no data is read)."""
    from .lake.delta_source import plan_scan

    plan = plan_scan(
        ctx.lake.uri(source.spec),
        ctx.lake.storage_options,
        version=source.upto,
        after_version=source.after,
    )
    return sum(f.num_records or 0 for f in plan.files)


def _has_new_data(ctx: JobContext, source: SourceRange) -> bool:
    from .lake.delta_source import data_changed

    if source.after is None:
        return True
    return data_changed(
        ctx.lake.uri(source.spec), ctx.lake.storage_options, source.after, source.upto
    )


def run_job(
    ctx: JobContext,
    job: IncrementalJob,
    *,
    full: bool = False,
    spark: SparkSession | None = None,
    params: BaseModel | None = None,
) -> JobResult:
    """Run `job` once over whatever its sources gained since its bookmarks (or all of them)."""
    recorded = {"full": full, **(params.model_dump(mode="json") if params else {})}
    with recorded_job_run(ctx, job.name, recorded) as result:
        ranges = pending_ranges(ctx, job, full)
        if ranges is None:
            missing = [s.qualified_name for s in job.sources if ctx.lake.version(s) is None]
            result.status = "noop"
            result.message = f"nothing to do: {', '.join(missing)} does not exist yet"
            return result
        stale = {k: r for k, r in ranges.items() if r.after is None or r.after < r.upto}
        if not stale:
            result.status = "noop"
            result.message = "up to date: no new source versions since the last run"
            result.details["bookmarks"] = {k: r.after for k, r in ranges.items()}
            return result
        if not any(_has_new_data(ctx, r) for r in stale.values()):
            # Nothing is committed, so the bookmarks stay: a commit that only moved them would
            # itself be a new version of this job's table, read downstream as news.
            result.status = "noop"
            result.message = "up to date: the new source versions hold no new data (maintenance)"
            result.details["bookmarks"] = {k: r.after for k, r in ranges.items()}
            return result
        from .lake import spark_io

        if spark is None:
            from .spark import get_session

            spark = get_session(ctx.settings)
        ctx.lake.ensure(job.output)
        result.versions_read = {k: [r.first, r.upto] for k, r in ranges.items()}
        result.rows_in = sum(_rows_in(ctx, r) for r in stale.values())
        ctx.progress.start(f"{job.name}: {'full' if full else 'incremental'} run", None)
        output = job.compute(JobInput(spark, ctx, ranges, full, params))
        # Bookmarks of the sources that moved: an unchanged source's bookmark is already there
        # and must not make the writer think this run was committed before.
        txns = [(bookmark_app_id(job, r.spec), r.upto) for r in stale.values()]
        outcome = spark_io.write(
            output.data,
            job.output,
            lake=ctx.lake,
            mode=output.mode,
            app_txn=txns,
            replace_files=list(output.replace_files),
            metadata={
                **output.metadata,
                "job": job.name,
                "versions_read": result.versions_read,
            },
            force=full,
        )
        ctx.progress.finish()
        result.details.update(output.details)
        if outcome.version is None:
            result.status = "noop"
            result.message = "another run committed these source versions first; nothing written"
            return result
        result.versions_written = {job.output.qualified_name: outcome.version}
        result.rows_out = outcome.rows_added
        result.details.update(
            files_added=outcome.files_added,
            files_removed=outcome.files_removed,
            mode=output.mode,
        )
        result.message = (
            f"{job.output.qualified_name} v{outcome.version}: {outcome.rows_added} row(s) "
            f"written from {result.rows_in} new source row(s)"
        )
        if output.details.get("note"):  # e.g. "re-mined in full": kept in ops.job_runs
            result.message += f"; {output.details['note']}"
    return result
