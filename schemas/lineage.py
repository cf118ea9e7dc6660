"""Records of the lineage and pattern tables: silver.component_usage,
silver.component_version_stats, silver.components, silver.component_evolution, silver.run_roles,
silver.patterns and silver.run_patterns.

One model per table; the Arrow schemas below are derived from them (as for silver.runs).
Versions are normalised (`1.0` -> `1.0.0`); a component seen without a version has the version
`unversioned`. `synthetic` marks runs made by scenario expansion, which never count towards the
statistics of real runs.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

UNVERSIONED = "unversioned"


class ComponentAlias(BaseModel):
    """A name a trace used for the component, and the input dialect it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alias: str = Field(description="The name as written in the trace.")
    dialect: str = Field(description="Input dialect (`canonical`, `otel`, `llmunix.history`, ...).")


class ComponentUsageRecord(BaseModel):
    """One row of silver.component_usage: one run x one component version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(description="The run.")
    component: str = Field(description="Canonical component name.")
    version: str = Field(description="Normalised version, or `unversioned`.")
    kind: str | None = Field(default=None, description="agent or tool.")
    resolved: bool = Field(description="False when the name matched no known component.")
    synthetic: bool = Field(description="The run is synthetic (scenario expansion).")
    source: str = Field(description="Producer of the run's first event.")
    aliases: list[ComponentAlias] = Field(description="Names used for it in this run.")
    calls: int = Field(description="Invocations (tool_call / delegation events).")
    errors: int = Field(description="Failed invocations.")
    retries: int = Field(description="Invocations repeating an earlier one (same action, input).")
    latency_n: int = Field(description="Events with a latency.")
    latency_sum_ms: float = Field(description="Sum of their latencies.")
    latency_sumsq_ms: float = Field(description="Sum of squared latencies (for intervals).")
    latency_p50_ms: float | None = Field(default=None, description="Median latency in the run.")
    latency_p95_ms: float | None = Field(default=None, description="95th percentile latency.")
    tokens_in: int = Field(description="Prompt tokens.")
    tokens_out: int = Field(description="Completion tokens.")
    cost_usd: float = Field(description="Cost in US dollars.")
    run_outcome: str = Field(description="success | success_with_recovery | failure | incomplete.")
    run_succeeded: bool = Field(description="The run completed (with or without recovery).")
    scenario: str | None = Field(default=None, description="The run's scenario.")
    scenario_level: str | None = Field(default=None, description="The run's benchmark level.")
    first_ts: datetime = Field(description="First event of this component version in the run.")
    last_ts: datetime = Field(description="Last event of this component version in the run.")
    declared_at: datetime | None = Field(
        default=None, description="ts of a component_created/component_evolved event for it."
    )
    parent_version: str | None = Field(
        default=None, description="The version it replaces, as an evolution event says."
    )
    change_note: str | None = Field(default=None, description="What the new version changed.")
    definition_hash: str | None = Field(
        default=None, description="sha256 of the definition text, when one was ingested."
    )
    backwards_uses: int = Field(
        description="Events of this version after a newer version was used in the same run."
    )


class ComponentVersionStatsRecord(BaseModel):
    """One row of silver.component_version_stats: the mergeable aggregates of one component
    version and population over silver.component_usage (what components and evolution read)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    component: str = Field(description="Canonical component name.")
    version: str = Field(description="Normalised version, or `unversioned`.")
    population: str = Field(description="`real` or `synthetic` runs.")
    kind: str | None = Field(default=None, description="agent or tool (the least seen).")
    resolved: bool = Field(description="Some usage row resolved the name.")
    aliases: list[ComponentAlias] = Field(description="Every name seen, with its dialect.")
    first_seen: datetime = Field(description="Earliest event.")
    last_seen: datetime = Field(description="Latest event.")
    runs: int = Field(description="Usage rows (runs).")
    calls: int = Field(description="Invocations.")
    errors: int = Field(description="Failed invocations.")
    finished_runs: int = Field(description="Runs that ended.")
    succeeded_runs: int = Field(description="Runs that completed.")
    latency_n: int = Field(description="Events with a latency.")
    latency_sum: float = Field(description="Sum of latencies (ms).")
    latency_sumsq: float = Field(description="Sum of squared latencies.")
    cost_sum: float = Field(description="Sum of run costs (USD).")
    cost_sumsq: float = Field(description="Sum of squared run costs.")
    definition_hashes: list[str] = Field(description="Definition text hashes seen.")
    parent: str | None = Field(default=None, description="Declared parent (earliest declared).")
    parent_at: datetime | None = Field(default=None, description="When it was declared.")
    change_note: str | None = Field(default=None, description="Change note (earliest declared).")
    change_note_at: datetime | None = Field(default=None, description="When it was declared.")
    declared_at: datetime | None = Field(default=None, description="Earliest declaration.")
    used_before_declared: int = Field(description="Runs that used it before its declaration.")
    backwards_uses: int = Field(description="Uses after a newer version, within a run.")


class ComponentRecord(BaseModel):
    """One row of silver.components: one component version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    component: str = Field(description="Canonical component name.")
    version: str = Field(description="Normalised version, or `unversioned`.")
    kind: str | None = Field(default=None, description="agent or tool.")
    resolved: bool = Field(description="False when the name matched no known component.")
    aliases: list[ComponentAlias] = Field(description="Every name seen, with its dialect.")
    first_seen: datetime = Field(description="Earliest event of this version.")
    last_seen: datetime = Field(description="Latest event of this version.")
    runs: int = Field(description="Real runs that used it.")
    synthetic_runs: int = Field(description="Synthetic runs that used it (reported apart).")
    calls: int = Field(description="Invocations in real runs.")
    definition_hash: str | None = Field(default=None, description="Definition text hash.")
    definition_conflict: bool = Field(
        description="Names merged into this identity carry different definitions (an error)."
    )
    parent_version: str | None = Field(
        default=None,
        description="Previous version: declared by an evolution event, else the "
        "next lower version seen.",
    )
    parent_declared: bool = Field(description="The parent comes from an evolution event.")
    change_note: str | None = Field(default=None, description="What this version changed.")
    declared_at: datetime | None = Field(default=None, description="When it was created.")
    used_before_declared: int = Field(description="Runs that used it before it was created.")
    backwards_uses: int = Field(description="Uses after a newer version, within a run.")


class ComponentEvolutionRecord(BaseModel):
    """One row of silver.component_evolution: version -> next version, with evidence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    component: str = Field(description="Canonical component name.")
    from_version: str = Field(description="The older version.")
    to_version: str = Field(description="The newer version.")
    population: str = Field(description="`real` or `synthetic` runs (never mixed).")
    link: str = Field(description="`declared` (evolution event) or `inferred` (version order).")
    change_note: str | None = Field(default=None, description="What the new version changed.")
    from_runs: int = Field(description="Runs using the older version.")
    to_runs: int = Field(description="Runs using the newer version.")
    from_calls: int = Field(description="Invocations of the older version.")
    to_calls: int = Field(description="Invocations of the newer version.")
    from_error_rate: float | None = Field(default=None, description="errors / calls.")
    to_error_rate: float | None = Field(default=None, description="errors / calls.")
    error_rate_delta: float | None = Field(default=None, description="to - from.")
    error_rate_delta_low: float | None = Field(default=None, description="CI lower bound.")
    error_rate_delta_high: float | None = Field(default=None, description="CI upper bound.")
    from_success_rate: float | None = Field(default=None, description="Runs that succeeded.")
    to_success_rate: float | None = Field(default=None, description="Runs that succeeded.")
    success_rate_delta: float | None = Field(default=None, description="to - from.")
    success_rate_delta_low: float | None = Field(default=None, description="CI lower bound.")
    success_rate_delta_high: float | None = Field(default=None, description="CI upper bound.")
    from_latency_ms: float | None = Field(default=None, description="Mean latency.")
    to_latency_ms: float | None = Field(default=None, description="Mean latency.")
    latency_delta_ms: float | None = Field(default=None, description="to - from.")
    latency_delta_low_ms: float | None = Field(default=None, description="CI lower bound.")
    latency_delta_high_ms: float | None = Field(default=None, description="CI upper bound.")
    from_cost_per_run_usd: float | None = Field(default=None, description="Mean cost per run.")
    to_cost_per_run_usd: float | None = Field(default=None, description="Mean cost per run.")
    cost_delta_usd: float | None = Field(default=None, description="to - from.")
    cost_delta_low_usd: float | None = Field(default=None, description="CI lower bound.")
    cost_delta_high_usd: float | None = Field(default=None, description="CI upper bound.")
    confidence: float = Field(description="Confidence level of every interval.")
    verdict: str = Field(description="improved | regressed | no evidence.")
    verdict_reason: str = Field(description="Why, in words (sample sizes, which interval).")


class PatternRecord(BaseModel):
    """One row of silver.patterns: a frequent closed sequence of step roles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern_id: str = Field(description="Stable id: hash of the role sequence.")
    name: str = Field(description="Readable name, e.g. `Fetch -> Process -> Output`.")
    roles: list[str] = Field(description="The role sequence.")
    length: int = Field(description="Number of roles.")
    support: float = Field(description="Share of mined runs that contain it.")
    n_runs: int = Field(description="Mined runs that contain it.")
    closed: bool = Field(description="No longer pattern has the same support.")
    maximal: bool = Field(description="No longer pattern is frequent.")
    assigned_runs: int = Field(description="Runs whose best pattern it is.")
    success_rate: float | None = Field(default=None, description="Of the runs containing it.")
    success_low: float | None = Field(default=None, description="Wilson interval, lower.")
    success_high: float | None = Field(default=None, description="Wilson interval, upper.")
    mean_steps: float | None = Field(default=None, description="Mean steps of those runs.")
    mean_latency_ms: float | None = Field(default=None, description="Mean run latency.")
    levels: list[str] = Field(description="Scenario levels where it occurs.")
    scenarios: list[str] = Field(description="Scenarios where it occurs.")
    example_run_ids: list[str] = Field(description="A few runs that follow it.")
    min_support: float = Field(description="The relative support threshold of the mining.")
    runs_mined: int = Field(description="Real runs with at least one step, mined together.")


class RunRolesRecord(BaseModel):
    """One row of silver.run_roles: a run's role sequence and what mining needs of the run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(description="The run.")
    synthetic: bool = Field(description="The run is synthetic (never mined).")
    scenario: str | None = Field(default=None, description="The run's scenario.")
    scenario_level: str | None = Field(default=None, description="The run's level.")
    duration_ms: float | None = Field(default=None, description="First to last event.")
    outcome: str = Field(description="success | success_with_recovery | failure | incomplete.")
    roles: list[str] = Field(description="The run's role sequence (Parallel blocks as one).")
    n_steps: int = Field(description="Invocations at the top level of the run.")
    unknown_steps: int = Field(description="Steps whose role the vocabulary does not know.")
    parallel_blocks: int = Field(description="Blocks of concurrent steps.")


class RunPatternRecord(BaseModel):
    """One row of silver.run_patterns: each run's role sequence and its best pattern."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(description="The run.")
    roles: list[str] = Field(description="The run's role sequence (Parallel blocks as one).")
    n_steps: int = Field(description="Invocations at the top level of the run.")
    unknown_steps: int = Field(description="Steps whose role the vocabulary does not know.")
    parallel_blocks: int = Field(description="Blocks of concurrent steps.")
    pattern_id: str | None = Field(default=None, description="Best pattern; null if none.")
    pattern_name: str | None = Field(default=None, description="Its readable name.")
    status: str = Field(description="matched | no_pattern | no_steps.")
    synthetic: bool = Field(description="The run is synthetic (never mined).")
    outcome: str = Field(description="success | success_with_recovery | failure | incomplete.")
    scenario: str | None = Field(default=None, description="The run's scenario.")
    scenario_level: str | None = Field(default=None, description="The run's level.")


def _schema(model: type[BaseModel]):  # imported late: schemas.arrow derives from the models
    import pyarrow as pa

    from .arrow import model_fields_to_arrow

    return pa.schema(model_fields_to_arrow(model))


COMPONENT_USAGE_SCHEMA = _schema(ComponentUsageRecord)
COMPONENT_VERSION_STATS_SCHEMA = _schema(ComponentVersionStatsRecord)
COMPONENTS_SCHEMA = _schema(ComponentRecord)
COMPONENT_EVOLUTION_SCHEMA = _schema(ComponentEvolutionRecord)
RUN_ROLES_SCHEMA = _schema(RunRolesRecord)
PATTERNS_SCHEMA = _schema(PatternRecord)
RUN_PATTERNS_SCHEMA = _schema(RunPatternRecord)
