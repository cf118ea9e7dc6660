"""The AgentEvent record: one immutable step of an agent run.

This module is the single source of truth for the event shape. The Arrow schema
(`schemas.arrow`) and the JSON Schema file (`agent_event.schema.json`) are derived from
the model below; every field is documented here and nowhere else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = 1

# Upper bound on one serialized event. Larger records are quarantined, not stored: a
# multi-megabyte tool output in bronze makes every downstream scan pay for it.
MAX_EVENT_BYTES = 1_000_000
# Integers are stored as int64: a larger value is rejected (`out_of_range`), never wrapped.
MAX_INT64 = 2**63 - 1


class EventType(StrEnum):
    """The event vocabulary. Producers may add their own types prefixed with `x-`."""

    run_started = "run_started"  # a run begins; carries goal, scenario, mode
    goal_received = "goal_received"  # the orchestrator receives the user's goal
    plan_created = "plan_created"  # a plan with steps and reasons (reasoning holds the why)
    memory_consulted = "memory_consulted"  # past experiences looked up before planning
    component_selected = "component_selected"  # an existing agent/tool chosen for a step
    component_created = "component_created"  # a new agent/tool written on demand
    component_evolved = "component_evolved"  # a component replaced by a new version
    tool_call = "tool_call"  # a tool invoked with input
    tool_result = "tool_result"  # the tool's output (or error) for a tool_call
    agent_message = "agent_message"  # a message between agents or to the user
    delegation = "delegation"  # a sub-task handed to another agent
    state_changed = "state_changed"  # execution state updated (state_change holds the delta)
    error = "error"  # something failed
    recovery = "recovery"  # a failure was handled (retry, fallback, skip, escalate)
    learning_recorded = "learning_recorded"  # a learning written to memory
    run_completed = "run_completed"  # the run ended successfully
    run_failed = "run_failed"  # the run ended in failure


CUSTOM_EVENT_PREFIX = "x-"
_CUSTOM_EVENT_RE = re.compile(r"^x-[a-z0-9][a-z0-9_.\-]{0,62}$")
_FRACTION_RE = re.compile(r"T\d{2}:\d{2}:\d{2}[.,](\d+)")
RUN_LEVEL_EVENTS = frozenset({"run_started", "goal_received", "run_completed", "run_failed"})


class ComponentKind(StrEnum):
    agent = "agent"
    tool = "tool"


class Mode(StrEnum):
    EXECUTION = "EXECUTION"
    SIMULATION = "SIMULATION"


class ScenarioLevel(StrEnum):
    single_domain = "single_domain"
    cross_domain = "cross_domain"
    novel = "novel"


class StepStatus(StrEnum):
    ok = "ok"
    error = "error"
    pending = "pending"
    skipped = "skipped"
    cancelled = "cancelled"


def is_known_event_type(value: str) -> bool:
    return value in EventType.__members__ or bool(_CUSTOM_EVENT_RE.match(value))


JsonText = Annotated[
    str | None,
    Field(description="JSON document serialized as text (kept as text so any shape fits)."),
]


class AgentEvent(BaseModel):
    """One step of an agent run, as stored in `bronze.events`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=True)

    event_id: str = Field(
        min_length=1,
        max_length=200,
        description="Stable id: the producer's id where it has one, else a hash of "
        "(source, run, position, content). Re-ingesting the same event yields the same id.",
    )
    run_id: str = Field(min_length=1, max_length=200, description="The run this step belongs to.")
    seq: int = Field(
        ge=0,
        le=MAX_INT64,
        description="Orders the events of a run: the step number where the producer numbers "
        "steps (from 0), else an ordering key (OTel: microseconds since epoch x 4 + rank).",
    )
    parent_event_id: str | None = Field(
        default=None, description="The event this one is nested under (delegations, tool results)."
    )
    ts: datetime = Field(description="When it happened, UTC, microsecond precision.")
    source: str = Field(
        min_length=1,
        description="Producer of the trace, e.g. `tracelake-simulator`, `llmunix`, `otel`.",
    )
    dialect: str = Field(
        default="canonical",
        description="Which input format it was read from (`canonical`, `llmunix.history`, ...).",
    )
    source_uri: str | None = Field(default=None, description="File or endpoint it was read from.")
    source_position: str | None = Field(
        default=None,
        description="Where in source_uri: `line:N`, `lines:A-B`, `span:<id>` or `record:N`.",
    )
    event_type: str = Field(
        description="One of EventType, or a custom `x-` prefixed type.",
        json_schema_extra={
            "anyOf": [
                {"enum": [e.value for e in EventType]},
                {"pattern": _CUSTOM_EVENT_RE.pattern},
            ]
        },
    )
    component_name: str | None = Field(
        default=None, description="Canonical agent/tool name (aliases resolved)."
    )
    component_kind: ComponentKind | None = Field(default=None, description="agent or tool.")
    component_version: str | None = Field(default=None, description="Component version, e.g. 1.1.")
    action: str | None = Field(default=None, description="What the step did, in a few words.")
    input: JsonText = None
    output: JsonText = None
    state_change: JsonText = None
    reasoning: str | None = Field(
        default=None, description="Why: plan rationale, decision notes, model reasoning text."
    )
    status: StepStatus | None = Field(default=None, description="Outcome of this step.")
    error: str | None = Field(default=None, description="Error message when status is error.")
    error_type: str | None = Field(default=None, description="Error class, e.g. `http_403`.")
    tokens_in: int | None = Field(default=None, ge=0, le=MAX_INT64, description="Prompt tokens.")
    tokens_out: int | None = Field(
        default=None, ge=0, le=MAX_INT64, description="Completion tokens."
    )
    latency_ms: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="Step wall time in ms."
    )
    cost_usd: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="Step cost in US dollars."
    )
    mode: Mode | None = Field(default=None, description="EXECUTION or SIMULATION.")
    goal: str | None = Field(default=None, description="The run's goal (run-level events).")
    scenario: str | None = Field(default=None, description="Scenario name (run-level events).")
    scenario_level: ScenarioLevel | None = Field(
        default=None, description="Benchmark level of the scenario (run-level events)."
    )
    attributes: dict[str, str] = Field(
        default_factory=dict, description="Free string attributes the fixed fields do not cover."
    )
    schema_version: int = Field(
        default=SCHEMA_VERSION, ge=1, le=MAX_INT64, description="Record shape version."
    )

    @field_validator(
        "seq", "tokens_in", "tokens_out", "latency_ms", "cost_usd", "schema_version", mode="before"
    )
    @classmethod
    def _no_booleans(cls, value: object) -> object:
        # Lax validation would store `true` as 1: a producer bug, not a number.
        if isinstance(value, bool):
            raise PydanticCustomError("bool_not_number", "a boolean where a number is expected")
        return value

    @field_validator("ts", mode="before")
    @classmethod
    def _at_most_microseconds(cls, value: object) -> object:
        # Bronze keeps microseconds. A finer timestamp is rejected rather than silently
        # truncated (trailing zeros are fine): the producer decides how to round.
        if isinstance(value, str):
            fraction = _FRACTION_RE.search(value)
            if fraction and fraction.group(1)[6:].strip("0"):
                raise PydanticCustomError(
                    "sub_microsecond",
                    "timestamp has sub-microsecond digits; round it to microseconds",
                )
        return value

    @field_validator("ts")
    @classmethod
    def _utc_microseconds(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamp has no timezone; send UTC, e.g. 2026-01-01T00:00:00Z")
        return value.astimezone(UTC)

    @field_validator("event_type")
    @classmethod
    def _known_event_type(cls, value: str) -> str:
        if not is_known_event_type(value):
            raise ValueError(
                f"unknown event_type {value!r}; use one of the documented types "
                f"or prefix a custom one with {CUSTOM_EVENT_PREFIX!r}"
            )
        return value


EVENT_FIELDS: tuple[str, ...] = tuple(AgentEvent.model_fields)
REQUIRED_FIELDS: tuple[str, ...] = tuple(
    name for name, field in AgentEvent.model_fields.items() if field.is_required()
)
