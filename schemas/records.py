"""Records of the operational tables: quarantined input, job runs, the landing ledger.

Like `agent_event`, these models are the source of truth for their tables' shapes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# How a job run ended: it wrote something, it found nothing to do, or it failed.
JobStatus = Literal["succeeded", "noop", "failed"]
# How a job writes its output table: add rows, or replace the table (full recomputes).
WriteMode = Literal["append", "overwrite"]


class QuarantineRecord(BaseModel):
    """An input record that could not be stored as an event, with what a person needs to fix it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quarantine_id: str = Field(description="Stable id: hash of (source_uri, source_position, raw).")
    source_uri: str = Field(description="File or endpoint the record came from.")
    source_position: str | None = Field(default=None, description="`line:N`, `lines:A-B`, ...")
    dialect: str = Field(description="Input format it was read as.")
    reason_code: str = Field(
        description="Machine-readable class: bad_json, bad_utf8, schema, unknown_event_type, "
        "oversize, id_conflict, template, unparseable, ..."
    )
    reason: str = Field(description="What is wrong and what to do, for a person.")
    raw: str = Field(description="The raw text (invalid UTF-8 replaced, truncated when oversize).")
    raw_bytes: int = Field(ge=0, description="Size of the raw record in bytes before truncation.")
    quarantined_at: datetime = Field(description="When it was quarantined, UTC.")
    batch_id: str = Field(description="The ingest batch that met it.")


class JobRun(BaseModel):
    """One run of a job (ingest, projection, ...), as appended to `ops.job_runs`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_run_id: str = Field(description="Unique id of this run.")
    job: str = Field(description="Job name, e.g. `ingest`, `project_runs`.")
    status: JobStatus = Field(description="succeeded, failed or noop (nothing new to do).")
    started_at: datetime = Field(description="Start, UTC.")
    finished_at: datetime = Field(description="End, UTC.")
    duration_s: float = Field(ge=0, description="Wall time in seconds.")
    params: str = Field(default="{}", description="JSON of the parameters it ran with.")
    versions_read: str = Field(
        default="{}", description="JSON: table -> [first, last] source versions consumed."
    )
    versions_written: str = Field(default="{}", description="JSON: table -> version committed.")
    rows_in: int = Field(default=0, ge=0, description="Records read.")
    rows_out: int = Field(default=0, ge=0, description="Rows written.")
    rows_duplicate: int = Field(default=0, ge=0, description="Records skipped as already stored.")
    rows_quarantined: int = Field(default=0, ge=0, description="Records sent to quarantine.")
    message: str | None = Field(default=None, description="Error or summary text.")


class LandingFileRecord(BaseModel):
    """One version of one landed file the pickup consumed, as appended to `ops.landing_files`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    landing: str = Field(description="The landing location (folder or s3:// prefix).")
    uri: str = Field(description="The file.")
    size: int = Field(description="Its size in bytes when consumed.")
    mtime_ns: int = Field(description="Its modification time (ns since the epoch).")
    run_key: str = Field(description="The pickup run that consumed it (DAG run or CLI).")
    consumed_at: datetime = Field(description="When it was recorded, UTC.")
    etag: str | None = Field(
        default=None,
        description="Its S3 ETag when consumed (null for local files and for rows written "
        "before the ledger recorded ETags).",
    )
    version_id: str | None = Field(
        default=None, description="Its S3 version id, where the store reports one."
    )
    watermark: str | None = Field(
        default=None,
        description="S3 incremental listing: after this pickup, every key of the landing "
        "prefix up to this one (inclusive) was consumed or ignored.",
    )
