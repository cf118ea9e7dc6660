"""The built-in (non-derived) jobs: their typed parameters and their entry points.

Each entry is `run_<job>(ctx, params) -> JobResult` and imports its job module only when
called, so listing the jobs (a DAG file being parsed, `tracelake --help`) stays cheap.
Derived jobs are not listed here: the registry discovers them (see jobs/registry.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from .registry import DerivedParams, JobParams, JobSpec

if TYPE_CHECKING:
    from .context import JobContext, JobResult

_HERE = "tracelake.jobs.builtins"


class IngestParams(JobParams):
    paths: list[str] = Field(min_length=1, description="Files, folders, globs or s3:// prefixes.")
    format: str | None = Field(default=None, description="Force a dialect instead of detecting.")


class SimulateParams(JobParams):
    out: str = Field(description="Folder to write the JSONL shards to.")
    runs: int = Field(default=1000, ge=1, description="Number of runs to simulate.")
    seed: int = Field(default=0, description="Random seed: same seed, same bytes.")
    corrupt_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Lines to corrupt.")
    files: int | None = Field(default=None, ge=1, description="Shards (default ~5000 runs each).")
    overwrite: bool = Field(default=False, description="Replace shards already in `out`.")
    exact_duplicate_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Runs followed by an exact copy (new ids; truth in run_started attributes).",
    )
    near_duplicate_rate: float = Field(
        default=0.0,
        ge=0.0,
        le=1.0,
        description="Runs followed by a near copy (3% of observation words replaced).",
    )


class LandingParams(JobParams):
    settle_s: float = Field(default=0.0, ge=0, description="Leave files younger than this.")
    max_files: int | None = Field(default=None, ge=1, description="Files per pickup.")
    run_key: str | None = Field(default=None, description="Ledger key (default: a timestamp).")
    full: bool = Field(
        default=False,
        description="S3: list the whole prefix, not only the keys after the watermark.",
    )


class CollectParams(JobParams):
    host: str = Field(default="127.0.0.1", description="Bind address (loopback by default).")
    port: int = Field(default=4318, ge=0, le=65535, description="OTLP/HTTP port (0: any free).")
    flush_interval_s: float = Field(default=1.0, ge=0.01, description="Seconds between commits.")
    max_batch_events: int = Field(default=10_000, ge=1, description="Events per micro-batch.")
    commit_interval_s: float = Field(
        default=0.0,
        ge=0,
        description="Least seconds between bronze commits: micro-batches filled faster are "
        "grouped into one commit, never holding a request past flush_interval_s (0: one commit "
        "per micro-batch).",
    )
    max_body_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest accepted request body."
    )


def run_ingest(ctx: JobContext, params: IngestParams) -> JobResult:
    from .ingest import job

    return job.run(ctx, list(params.paths), format=params.format)


def run_simulate(ctx: JobContext, params: SimulateParams) -> JobResult:
    from .simulate import job

    return job.run(ctx, **params.model_dump())


def run_landing(ctx: JobContext, params: LandingParams) -> JobResult:
    from . import landing

    return landing.run(ctx, **params.model_dump())


def run_collect(ctx: JobContext, params: CollectParams) -> JobResult:
    from .collect import server

    return server.serve(ctx, **params.model_dump())


def run_build(ctx: JobContext, params: DerivedParams) -> JobResult:
    from . import build

    return build.run(ctx, full=params.full)


def run_rebuild(ctx: JobContext, params: JobParams) -> JobResult:
    from . import build

    return build.rebuild(ctx)


def _builtin(
    name: str,
    description: str,
    params: str,
    reads: tuple[str, ...] = (),
    writes: tuple[str, ...] = (),
    needs_spark: bool = False,
) -> JobSpec:
    return JobSpec(
        name=name,
        kind="builtin",
        entry=f"{_HERE}:run_{name}",
        description=description,
        reads=reads,
        writes=writes,
        needs_spark=needs_spark,
        params_entry=params,
    )


BRONZE = ("bronze.events", "bronze.quarantine")

BUILTIN_JOBS: tuple[JobSpec, ...] = (
    _builtin("simulate", "Write simulated LLM-OS traces as JSONL.", f"{_HERE}:SimulateParams"),
    _builtin(
        "ingest",
        "Ingest trace files into bronze.events (bad records to bronze.quarantine).",
        f"{_HERE}:IngestParams",
        writes=BRONZE,
    ),
    _builtin(
        "landing",
        "Ingest the files that landed since the last pickup and record them in the ledger.",
        f"{_HERE}:LandingParams",
        reads=("ops.landing_files",),
        writes=(*BRONZE, "ops.landing_files"),
    ),
    _builtin(
        "collect",
        "Receive OTLP/HTTP spans into bronze until stopped.",
        f"{_HERE}:CollectParams",
        writes=BRONZE,
    ),
    _builtin(
        "build",
        "Bring every derived table up to date, in dependency order.",
        "tracelake.jobs.registry:DerivedParams",
        reads=("bronze.events",),
        needs_spark=True,
    ),
    _builtin(
        "rebuild",
        "Recompute every derived table from bronze.",
        "tracelake.jobs.registry:JobParams",
        reads=("bronze.events",),
        needs_spark=True,
    ),
)
