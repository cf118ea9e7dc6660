"""The RunRecord: one agent run as projected from its bronze events into `silver.runs`.

Everything a later job needs to turn a run into training data lives here: the goal and its
context (goal, context_json, constraints via the run_started event's input), the reasoning
(plan text and per-step reasoning), the executed steps in order, the outcome and the learnings.
Every field is recomputed from all of the run's events, so a late event simply rewrites the row.

Counting failures (`RunStep.is_failure`, `RunRecord.error_count`): a failure is counted once.
A failed tool call usually yields two events, a `tool_result` with status error and an `error`
event whose parent is that result; both describe one failure. So a step is a failure when
  - it is an `error` event, or
  - its status is error, no `error` event of the run has it as parent, and it is not a run-level
    event (run_started / run_completed / run_failed: how the run ended is its `outcome`, not an
    error count).
`is_failure` below is the reference; the projection's SQL implements the same rule and a test
compares them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RunOutcome(StrEnum):
    success = "success"  # run_completed, no error and no recovery on the way
    success_with_recovery = "success_with_recovery"  # run_completed after errors/recoveries
    failure = "failure"  # the run's last terminal event is run_failed
    incomplete = "incomplete"  # no terminal event (yet): still running, or its end was lost


class RunStep(BaseModel):
    """One event of the run, in `seq` order (ties broken by ts, then event_id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int = Field(description="Position of the event within its run.")
    event_id: str = Field(description="The bronze event this step was projected from.")
    ts: datetime = Field(description="When it happened, UTC.")
    event_type: str = Field(description="EventType value (or custom x- type).")
    component: str | None = Field(default=None, description="Agent/tool name.")
    component_kind: str | None = Field(default=None, description="agent or tool.")
    version: str | None = Field(default=None, description="Component version.")
    action: str | None = Field(default=None, description="What the step did.")
    status: str | None = Field(default=None, description="ok, error, pending, skipped, ...")
    latency_ms: float | None = Field(default=None, description="Step wall time in ms.")
    tokens_in: int | None = Field(default=None, description="Prompt tokens.")
    tokens_out: int | None = Field(default=None, description="Completion tokens.")
    cost_usd: float | None = Field(default=None, description="Step cost in US dollars.")
    error_type: str | None = Field(default=None, description="Error class when it failed.")
    error: str | None = Field(default=None, description="Error message when it failed.")
    reasoning: str | None = Field(default=None, description="Why the step was taken.")
    input: str | None = Field(default=None, description="Step input (JSON text).")
    output: str | None = Field(default=None, description="Step output (JSON text).")
    is_failure: bool = Field(
        default=False,
        description="Counts as one failure in error_count (see the module docs: a failed call "
        "and its error event count once; run-level events never).",
    )


class RunRecord(BaseModel):
    """One row of `silver.runs`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str = Field(description="The run.")
    goal: str | None = Field(default=None, description="First goal stated by a run-level event.")
    scenario: str | None = Field(default=None, description="Scenario name.")
    scenario_level: str | None = Field(default=None, description="single_domain, ...")
    mode: str | None = Field(default=None, description="EXECUTION or SIMULATION.")
    source: str = Field(description="Producer of the first event.")
    context_json: str | None = Field(
        default=None, description="Input of the run_started event: context and constraints."
    )
    plan_reasoning: str | None = Field(
        default=None, description="Reasoning of the plan_created events, in order, joined."
    )
    plan_json: str | None = Field(
        default=None, description="Output (else input) of the last plan_created event."
    )
    started_at: datetime = Field(description="ts of run_started, else of the first event.")
    ended_at: datetime | None = Field(
        default=None, description="ts of the last run_completed/run_failed; null if none."
    )
    duration_s: float | None = Field(default=None, description="ended_at - started_at.")
    outcome: RunOutcome = Field(description="See RunOutcome.")
    final_output: str | None = Field(
        default=None, description="Output of the terminal event (the run's answer)."
    )
    steps: list[RunStep] = Field(description="Every event of the run, in order.")
    components: list[str] = Field(description="Distinct component names used, sorted.")
    component_versions: list[str] = Field(
        description="Distinct `name@version` pairs used, sorted (versioned components only)."
    )
    learnings: list[str] = Field(
        description="learning_recorded events' text (output, else reasoning, else action)."
    )
    error_count: int = Field(
        description="Failures in the run: steps with is_failure (a failed tool call and its "
        "error event count once; run_failed does not count)."
    )
    recovery_count: int = Field(description="Events of type recovery.")
    total_tokens_in: int = Field(description="Sum of tokens_in.")
    total_tokens_out: int = Field(description="Sum of tokens_out.")
    total_cost_usd: float = Field(description="Sum of cost_usd (in step order).")
    total_latency_ms: float = Field(description="Sum of latency_ms (in step order).")
    n_events: int = Field(description="Number of events projected.")
    first_event_ts: datetime = Field(description="Earliest event ts.")
    last_event_ts: datetime = Field(description="Latest event ts.")


# Run-level events: their status is the run's outcome, never a failure count.
RUN_LEVEL_TYPES = frozenset({"run_started", "run_completed", "run_failed"})


def failures(events: Iterable[Mapping[str, Any]]) -> set[str]:
    """The event ids of one run's events that count as failures (the rule in the module docs).
    Each event needs event_id, parent_event_id, event_type and status."""
    events = list(events)
    explained = {e["parent_event_id"] for e in events if e["event_type"] == "error"}
    return {
        e["event_id"]
        for e in events
        if e["event_type"] == "error"
        or (
            e.get("status") == "error"
            and e["event_type"] not in RUN_LEVEL_TYPES
            and e["event_id"] not in explained
        )
    }


def _runs_schema():  # imported late: schemas.arrow derives types from the models above
    import pyarrow as pa

    from .arrow import model_fields_to_arrow

    return pa.schema(model_fields_to_arrow(RunRecord))


RUNS_SCHEMA = _runs_schema()
