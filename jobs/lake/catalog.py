"""The table catalog: every lake table's name, location, schema, partitioning and properties.

A table lives at `<lake_root>/<tier>/<name>` and is addressed as `tier.name`. Jobs name tables
only through this catalog; later layers register their tables here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from tracelake.schemas.arrow import (
    BRONZE_EVENTS_SCHEMA,
    JOB_RUNS_SCHEMA,
    LANDING_FILES_SCHEMA,
    QUARANTINE_SCHEMA,
)


@dataclass(frozen=True)
class TableSpec:
    tier: str
    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...] = ()
    append_only: bool = False
    key: tuple[str, ...] = ()
    description: str = ""
    properties: dict[str, str] = field(default_factory=dict)
    # Columns whose values rarely repeat (ids, hashes, payloads): written without dictionary
    # encoding, which would cost time and save nothing.
    plain_columns: tuple[str, ...] = ()

    @property
    def qualified_name(self) -> str:
        return f"{self.tier}.{self.name}"

    @property
    def view_name(self) -> str:
        """Name of the Spark SQL view for analysts: `bronze_events`."""
        return f"{self.tier}_{self.name}"

    @property
    def configuration(self) -> dict[str, str]:
        conf = dict(self.properties)
        if self.append_only:
            conf["delta.appendOnly"] = "true"
        return conf


_TABLES: dict[str, TableSpec] = {}


def register(spec: TableSpec) -> TableSpec:
    _TABLES[spec.qualified_name] = spec
    return spec


def get(qualified_name: str) -> TableSpec:
    try:
        return _TABLES[qualified_name]
    except KeyError:
        known = ", ".join(sorted(_TABLES))
        raise KeyError(f"unknown table {qualified_name!r}; known tables: {known}") from None


def all_tables() -> list[TableSpec]:
    return [_TABLES[name] for name in sorted(_TABLES)]


BRONZE_EVENTS = register(
    TableSpec(
        tier="bronze",
        name="events",
        schema=BRONZE_EVENTS_SCHEMA,
        partition_by=("event_date",),
        append_only=True,
        key=("event_id",),
        description="Every agent step as an immutable event (append-only).",
        # File statistics only where queries filter; stats on every text column double the
        # cost of a write and skip nothing.
        properties={"delta.dataSkippingStatsColumns": "run_id,seq,ts,event_type,component_name"},
        plain_columns=(
            "event_id",
            "parent_event_id",
            "ts",
            "source_position",
            "input",
            "output",
            "state_change",
            "reasoning",
            "content_hash",
        ),
    )
)
BRONZE_QUARANTINE = register(
    TableSpec(
        tier="bronze",
        name="quarantine",
        schema=QUARANTINE_SCHEMA,
        partition_by=("quarantine_date",),
        append_only=True,
        key=("quarantine_id",),
        description="Every rejected input record, with its raw text and the reason.",
    )
)
OPS_JOB_RUNS = register(
    TableSpec(
        tier="ops",
        name="job_runs",
        schema=JOB_RUNS_SCHEMA,
        append_only=True,
        key=("job_run_id",),
        description="One row per job run: versions read and written, counts, timings.",
    )
)

OPS_LANDING_FILES = register(
    TableSpec(
        tier="ops",
        name="landing_files",
        schema=LANDING_FILES_SCHEMA,
        append_only=True,
        key=("uri", "size", "mtime_ns"),
        description="The landing-zone ledger: every file version the ingest pickup consumed.",
    )
)

# -- silver.runs (issue 3: the runs projection) -----------------------------------------------
from tracelake.schemas.runs import RUNS_SCHEMA  # noqa: E402

SILVER_RUNS = register(
    TableSpec(
        tier="silver",
        name="runs",
        schema=RUNS_SCHEMA,
        key=("run_id",),
        description="One row per run: goal, ordered steps, outcome, metrics (from bronze.events).",
    )
)
