"""Record shapes of the privacy tables: silver.events (scrubbed bronze events), ops.scrub_log
(what was replaced where) and ops.erasures (audited erasures).

Neither log ever holds a scrubbed or erased value: a placeholder or a hash stands for it.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from .arrow import BRONZE_EVENTS_SCHEMA, model_fields_to_arrow

SCRUB_COUNT_FIELD = pa.field("scrub_count", pa.int32(), nullable=False)
# silver.events = bronze.events, free text scrubbed, plus how many values were replaced.
SILVER_EVENTS_SCHEMA = pa.schema([*BRONZE_EVENTS_SCHEMA, SCRUB_COUNT_FIELD])


class ScrubLogEntry(BaseModel):
    """One replaced value in silver.events (the value itself is never recorded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(description="The run of the event.")
    event_id: str = Field(description="The event whose field was scrubbed.")
    field_path: str = Field(
        description="Column, then JSON path or attribute key: `input.headers.Authorization`, "
        "`attributes.api_key`, `output.steps[0].out[1]`."
    )
    kind: str = Field(description="What was found: aws_access_key, email, password, ...")
    detector: str = Field(description="The detector that found it: `secret.aws_access_key`.")
    placeholder: str = Field(description="What replaced it: `<SECRET:aws_access_key:3f2a>`.")


class ErasureRecord(BaseModel):
    """One `tracelake erase`: who, when, what selector (hashed), and what it rewrote."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    erasure_id: str = Field(description="Unique id; also in the Delta commit metadata.")
    erased_at: datetime = Field(description="When, UTC.")
    erased_by: str = Field(
        description="The operator (settings privacy.operator, else the OS user)."
    )
    selector: str = Field(description="run or value.")
    selector_sha256: str = Field(description="SHA-256 of the run id or of the erased value.")
    reason: str | None = Field(default=None, description="Why (ticket, request id), if given.")
    runs_affected: list[str] = Field(default_factory=list, description="Run ids touched.")
    rows_affected: int = Field(ge=0, description="bronze.events rows deleted or rewritten.")
    files_rewritten: int = Field(ge=0, description="bronze.events data files replaced.")
    tables: str = Field(
        default="{}", description="JSON: table -> {version, rows_removed, rows_added} committed."
    )
    export_manifests: list[str] = Field(
        default_factory=list, description="Export manifests that listed an affected run."
    )


# The log is partitioned like the events it describes (their event_date).
SCRUB_LOG_SCHEMA = pa.schema(
    [*model_fields_to_arrow(ScrubLogEntry), pa.field("event_date", pa.date32(), nullable=False)]
)
ERASURES_SCHEMA = pa.schema(model_fields_to_arrow(ErasureRecord))
