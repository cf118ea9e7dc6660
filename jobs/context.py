"""What every job gets (`JobContext`) and returns (`JobResult`), and the ops.job_runs record.

A job is a module with one entry function `run(ctx, **params) -> JobResult`; the CLI, Airflow
and spark-submit all call that function.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import pyarrow as pa

from tracelake.schemas import JobRun
from tracelake.schemas.records import JobStatus

from .errors import StorageAuthError, StorageUnreachableError
from .lake import Lake, catalog
from .lake.store import redact
from .settings import Settings, default_settings

log = logging.getLogger("tracelake")


class Progress(Protocol):
    """Reports progress of long work: a rich bar in the CLI, log lines elsewhere."""

    def start(self, description: str, total: float | None) -> None: ...
    def advance(self, amount: float = 1) -> None: ...
    def finish(self) -> None: ...


class LogProgress:
    """Progress as structured log lines, at most one every `every_s` seconds."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self._desc, self._done, self._last = "", 0.0, 0.0
        self._total: float | None = None

    def start(self, description: str, total: float | None) -> None:
        self._desc, self._total, self._done, self._last = description, total, 0.0, time.monotonic()
        log.info("progress task=%r total=%s", description, total)

    def advance(self, amount: float = 1) -> None:
        self._done += amount
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            log.info("progress task=%r done=%s total=%s", self._desc, self._done, self._total)

    def finish(self) -> None:
        log.info("progress task=%r done=%s finished", self._desc, self._done)


@dataclass
class JobContext:
    settings: Settings
    lake: Lake
    progress: Progress = field(default_factory=LogProgress)

    @classmethod
    def create(
        cls, settings: Settings | None = None, progress: Progress | None = None
    ) -> JobContext:
        settings = settings or default_settings()
        return cls(
            settings=settings,
            lake=Lake.from_settings(settings),
            progress=progress or LogProgress(),
        )


@dataclass
class JobResult:
    job: str
    status: JobStatus
    rows_in: int = 0
    rows_out: int = 0
    rows_duplicate: int = 0
    rows_quarantined: int = 0
    versions_read: dict[str, list[int]] = field(default_factory=dict)
    versions_written: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


@contextmanager
def recorded_job_run(ctx: JobContext, job: str, params: dict[str, Any]) -> Iterator[JobResult]:
    """Run a block as one job run; append its row to ops.job_runs whether it succeeds or fails."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    result = JobResult(job=job, status="succeeded")
    try:
        yield result
    except BaseException as exc:
        result.status = "failed"
        result.message = f"{type(exc).__name__}: {exc}"[:2000]
        if not isinstance(exc, StorageUnreachableError | StorageAuthError):  # can't record there
            _append_job_run(ctx, result, params, started, time.perf_counter() - t0)
        raise
    _append_job_run(ctx, result, params, started, time.perf_counter() - t0)


def _append_job_run(
    ctx: JobContext, result: JobResult, params: dict[str, Any], started: datetime, duration: float
) -> None:
    row = JobRun(
        job_run_id=uuid.uuid4().hex,
        job=result.job,
        status=result.status,
        started_at=started,
        finished_at=datetime.now(UTC),
        duration_s=round(duration, 6),
        params=json.dumps(params, default=str, sort_keys=True),
        versions_read=json.dumps(result.versions_read, sort_keys=True),
        versions_written=json.dumps(result.versions_written, sort_keys=True),
        rows_in=result.rows_in,
        rows_out=result.rows_out,
        rows_duplicate=result.rows_duplicate,
        rows_quarantined=result.rows_quarantined,
        message=result.message,
    )
    table = pa.Table.from_pylist([row.model_dump()], schema=catalog.OPS_JOB_RUNS.schema)
    try:
        ctx.lake.append(catalog.OPS_JOB_RUNS, table)
    except Exception as exc:  # the job's own outcome matters more than its bookkeeping
        log.warning(  # one line: storage errors can carry a whole HTML page
            "could not record job run %s of %s: %s",
            row.job_run_id,
            result.job,
            redact(str(exc).strip().splitlines()[0][:300]) if str(exc).strip() else exc,
        )
