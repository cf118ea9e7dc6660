"""The table catalog: every lake table's name, location, schema, partitioning and properties.

A table lives at `<lake_root>/<tier>/<name>` and is addressed as `tier.name`. Jobs name tables
only through this catalog; later layers register their tables here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from tracelake.schemas.arrow import (
    BRONZE_EVENTS_SCHEMA,
    EVENT_KEYS_SCHEMA,
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
    # How long the table keeps a Delta app transaction after its last commit
    # (`delta.setTransactionRetentionDuration`): only for tables whose writers use one app id
    # per batch or session, which would otherwise pile up in every checkpoint forever. Never
    # for a table holding a derived job's bookmark: an expired bookmark would make the next run
    # read its sources from the start (docs/ingest.md, "App transactions expire").
    app_txn_retention: str | None = None
    # Files laid out by the table's own writer (sorted, with Bloom filters per row group), which
    # generic compaction would undo by concatenating them: `tracelake maintain` then leaves the
    # compaction to that writer's own merge (bronze.event_keys).
    own_compaction: bool = False

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
        if self.app_txn_retention:
            conf["delta.setTransactionRetentionDuration"] = self.app_txn_retention
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


# Retention of the per-batch app transactions of the bronze writers (ingest: one app id per
# batch; the OTLP collector: one per session). A retry within it is skipped by its app
# transaction; after it, the same batch is still stored once, by event-id deduplication, only
# no longer skipped whole. Seven days covers Airflow retries and a re-run of a failed pickup
# (hours), and matches VACUUM's default retention (`maintenance.retention_hours`), after which
# the staged files of a commit with an unknown outcome are gone anyway. At 1B events/day it
# bounds the live entries to about 7 x 2,000 (docs/scaling.md).
BRONZE_APP_TXN_RETENTION = "interval 7 days"


BRONZE_EVENTS = register(
    TableSpec(
        tier="bronze",
        name="events",
        schema=BRONZE_EVENTS_SCHEMA,
        partition_by=("event_date",),
        append_only=True,
        key=("event_id",),
        description="Every agent step as an immutable event (append-only).",
        app_txn_retention=BRONZE_APP_TXN_RETENTION,
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
        app_txn_retention=BRONZE_APP_TXN_RETENTION,
    )
)
# The persistent index of bronze.events' ids (jobs/ingest/event_keys.py, docs/ingest.md): what
# deduplication reads instead of every stored id. Derived from bronze.events alone and
# rebuildable from it; never a source of truth. Its app transaction (the bronze version it
# covers) is a bookmark, so it has no app transaction retention.
BRONZE_EVENT_KEYS = register(
    TableSpec(
        tier="bronze",
        name="event_keys",
        schema=EVENT_KEYS_SCHEMA,
        key=("event_id",),
        description="Index of bronze.events: id hash, event id, content hash; files sorted by "
        "id hash with a Bloom filter per row group.",
        plain_columns=("id_hash", "event_id", "content_hash"),
        own_compaction=True,
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
        description="One row per run: goal, ordered steps, outcome, metrics (from silver.events).",
    )
)


# -- privacy: silver.events, ops.scrub_log, ops.erasures (issue 10) ---------------------------
from tracelake.schemas.privacy import (  # noqa: E402
    ERASURES_SCHEMA,
    SCRUB_LOG_SCHEMA,
    SILVER_EVENTS_SCHEMA,
)

SILVER_EVENTS = register(
    TableSpec(
        tier="silver",
        name="events",
        schema=SILVER_EVENTS_SCHEMA,
        partition_by=("event_date",),
        key=("event_id",),
        description="bronze.events with secrets and personal data replaced by placeholders; "
        "what every derived job reads.",
        properties=dict(BRONZE_EVENTS.properties),
        plain_columns=BRONZE_EVENTS.plain_columns,
    )
)
OPS_SCRUB_LOG = register(
    TableSpec(
        tier="ops",
        name="scrub_log",
        schema=SCRUB_LOG_SCHEMA,
        partition_by=("event_date",),
        key=("event_id", "field_path", "placeholder"),
        description="One row per value scrubbed from silver.events: where, what kind, which "
        "detector, its placeholder; never the value.",
    )
)
OPS_ERASURES = register(
    TableSpec(
        tier="ops",
        name="erasures",
        schema=ERASURES_SCHEMA,
        append_only=True,
        key=("erasure_id",),
        description="One row per `tracelake erase`: who, when, the hashed selector, what was "
        "rewritten, which export manifests held the erased runs.",
    )
)


# -- lineage and patterns (issue 11) ----------------------------------------------------------
from tracelake.schemas import lineage as _lineage  # noqa: E402

SILVER_COMPONENT_USAGE = register(
    TableSpec(
        tier="silver",
        name="component_usage",
        schema=_lineage.COMPONENT_USAGE_SCHEMA,
        key=("run_id", "component", "version"),
        description="Per run x component version: calls, errors, latency, cost, run outcome.",
    )
)
SILVER_COMPONENT_VERSION_STATS = register(
    TableSpec(
        tier="silver",
        name="component_version_stats",
        schema=_lineage.COMPONENT_VERSION_STATS_SCHEMA,
        key=("component", "version", "population"),
        description="Mergeable per version x population aggregates of component_usage.",
    )
)
SILVER_COMPONENTS = register(
    TableSpec(
        tier="silver",
        name="components",
        schema=_lineage.COMPONENTS_SCHEMA,
        key=("component", "version"),
        description="One row per canonical component version: aliases, lineage, definition.",
    )
)
SILVER_COMPONENT_EVOLUTION = register(
    TableSpec(
        tier="silver",
        name="component_evolution",
        schema=_lineage.COMPONENT_EVOLUTION_SCHEMA,
        key=("component", "from_version", "to_version", "population"),
        description="Version -> next version with intervals and a verdict.",
    )
)
SILVER_RUN_ROLES = register(
    TableSpec(
        tier="silver",
        name="run_roles",
        schema=_lineage.RUN_ROLES_SCHEMA,
        key=("run_id",),
        description="Each run's role sequence, outcome and scenario (what mining reads).",
    )
)
SILVER_PATTERNS = register(
    TableSpec(
        tier="silver",
        name="patterns",
        schema=_lineage.PATTERNS_SCHEMA,
        key=("pattern_id",),
        description="Frequent closed workflow patterns over step roles (PrefixSpan).",
    )
)
SILVER_RUN_PATTERNS = register(
    TableSpec(
        tier="silver",
        name="run_patterns",
        schema=_lineage.RUN_PATTERNS_SCHEMA,
        key=("run_id",),
        description="Each run's role sequence and its best pattern.",
    )
)


# -- scenario expansion (issue 12): synthetic events, their lineage, rejected candidates ---------
from tracelake.schemas.arrow import BRONZE_EVENTS_SCHEMA as _EVENTS  # noqa: E402
from tracelake.schemas.synthetic import (  # noqa: E402
    SYNTHETIC_REJECTED_SCHEMA,
    SYNTHETIC_RUNS_SCHEMA,
)

SILVER_SYNTHETIC_EVENTS = register(
    TableSpec(
        tier="silver",
        name="synthetic_events",
        schema=_EVENTS,
        partition_by=("event_date",),
        key=("event_id",),
        description="Verified synthetic variations of seed runs, as events (flagged synthetic).",
        plain_columns=("event_id", "parent_event_id", "ts", "input", "output", "content_hash"),
    )
)
SILVER_SYNTHETIC_RUNS = register(
    TableSpec(
        tier="silver",
        name="synthetic_runs",
        schema=SYNTHETIC_RUNS_SCHEMA,
        key=("synthetic_run_id",),
        description="One row per synthetic run: seed, transform chain, generator, verification.",
    )
)
SILVER_SYNTHETIC_REJECTED = register(
    TableSpec(
        tier="silver",
        name="synthetic_rejected",
        schema=SYNTHETIC_REJECTED_SCHEMA,
        key=("candidate_id",),
        description="Every expansion candidate or seed not used, with the check and reason.",
    )
)


# -- ops.train_runs (issue 16: the trainer's run records) --------------------------------------
from tracelake.schemas.train_runs import TRAIN_RUNS_SCHEMA  # noqa: E402

OPS_TRAIN_RUNS = register(
    TableSpec(
        tier="ops",
        name="train_runs",
        schema=TRAIN_RUNS_SCHEMA,
        append_only=True,
        key=("run_id",),
        description="One row per training run: data, options hash, throughput, losses, checkpoint.",
    )
)


# -- gold: training examples, rejected runs, pairs, human feedback (issue 13) ----------------------
from tracelake.schemas import gold as _gold  # noqa: E402

GOLD_EXAMPLES = register(
    TableSpec(
        tier="gold",
        name="examples",
        schema=_gold.EXAMPLES_SCHEMA,
        key=("run_id",),
        description="One row per usable run: four-part record, messages + tools, weights, split.",
        plain_columns=("example_id", "record", "messages", "tools", "event_ids"),
    )
)
GOLD_REJECTED = register(
    TableSpec(
        tier="gold",
        name="rejected",
        schema=_gold.REJECTED_SCHEMA,
        key=("stage", "run_id"),
        description="Every run (or pair) the gold and later stages did not use, with its reason.",
    )
)
GOLD_PREFERENCES = register(
    TableSpec(
        tier="gold",
        name="preferences",
        schema=_gold.PREFERENCES_SCHEMA,
        key=("pair_id",),
        description="prompt / chosen / rejected pairs: outcome rules and human feedback.",
    )
)
GOLD_CONSTITUTIONAL_PAIRS = register(
    TableSpec(
        tier="gold",
        name="constitutional_pairs",
        schema=_gold.CONSTITUTIONAL_SCHEMA,
        key=("pair_id",),
        description="Per violating run and rule: critique, compliant vs violating trajectory.",
    )
)
# -- curation (docs/curation.md): the persistent dedup index and its clusters -----------------
from tracelake.schemas.curation import (  # noqa: E402
    DEDUP_CLUSTERS_SCHEMA,
    DEDUP_INDEX_SCHEMA,
)

GOLD_DEDUP_INDEX = register(
    TableSpec(
        tier="gold",
        name="dedup_index",
        schema=DEDUP_INDEX_SCHEMA,
        key=("example_id", "batch_version"),
        description="Curation verdict per example version; signatures of kept examples.",
        plain_columns=("example_id", "content_hash", "signature", "band_keys"),
    )
)
GOLD_DEDUP_CLUSTERS = register(
    TableSpec(
        tier="gold",
        name="dedup_clusters",
        schema=DEDUP_CLUSTERS_SCHEMA,
        key=("cluster_row_id",),
        description="Duplicate clusters: representative, split, members added per batch, rules.",
    )
)
OPS_FEEDBACK = register(
    TableSpec(
        tier="ops",
        name="feedback",
        schema=_gold.FEEDBACK_SCHEMA,
        append_only=True,
        key=("feedback_id",),
        description="Human preferences and ratings of runs, with who and when.",
    )
)


# -- ops.eval_results (issue 17: the workflow benchmark) ---------------------------------------
from tracelake.schemas.eval_results import EVAL_RESULTS_SCHEMA  # noqa: E402

OPS_EVAL_RESULTS = register(
    TableSpec(
        tier="ops",
        name="eval_results",
        schema=EVAL_RESULTS_SCHEMA,
        append_only=True,
        key=("row_id",),
        description="Workflow benchmark results: one row per episode, per level and per run.",
    )
)


# -- ops.gate_results (issue 15: the quality gates) ---------------------------------------------
from tracelake.schemas.gates import GATE_RESULTS_SCHEMA  # noqa: E402

OPS_GATE_RESULTS = register(
    TableSpec(
        tier="ops",
        name="gate_results",
        schema=GATE_RESULTS_SCHEMA,
        append_only=True,
        key=("gate_result_id",),
        description="Quality gate results: one row per table version validated by a gate run.",
    )
)
