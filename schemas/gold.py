"""Records of the gold tier: training examples, rejected runs, preference and constitutional pairs,
and human feedback (docs/gold.md).

Message rows (`messages`, `prompt`, `chosen`, `rejected`, `critique_messages`) share one shape,
the one TRL's conversational formats and our trainer read: role, content, reasoning, the tool
name of a tool turn, tool calls the OpenAI way (arguments as JSON text, since their shapes differ
from tool to tool and Parquet would null-fill a union of them) and a training weight.

`record` (the methodology's four-part structure) is stored as JSON text and validated against
`example_record.schema.json`, generated from `ExampleStructure` (a test fails when it is stale).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

RECORD_SCHEMA_FILE = Path(__file__).with_name("example_record.schema.json")
ASSEMBLER_VERSION = 1

PHASES = ("orchestration", "component_evolution", "transfer")
SPLITS = ("train", "validation", "test")


# -- the message shape ---------------------------------------------------------------------------


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The tool's function name (its component name).")
    arguments: str = Field(description="The call's arguments: a JSON object, as text.")


class ToolCallRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Call id within the example (call_0, call_1, ...).")
    type: str = Field(description="Always `function`.")
    function: FunctionCall


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = Field(description="system, user, assistant or tool.")
    content: str = Field(description="Text of the turn (a tool turn: the observation).")
    reasoning: str | None = Field(default=None, description="Assistant reasoning, if any.")
    name: str | None = Field(default=None, description="Tool turns: the tool that answered.")
    tool_calls: list[ToolCallRow] | None = Field(default=None, description="Assistant calls.")
    weight: float | None = Field(
        default=None,
        description="Training weight: 0 on prompts and observations, 0 on a failed "
        "step the run corrected, 1 on the recovery and other assistant turns.",
    )


# -- the four-part record (validated by its JSON Schema) ------------------------------------------


class RecordContext(BaseModel):
    model_config = ConfigDict(extra="forbid")

    available_components: list[str] = Field(description="name@version the run could call.")
    past_experiences: list[str] | None = Field(
        description="What the run's memory consultation returned; null: it consulted none."
    )


class RecordInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: str
    context: RecordContext
    constraints: dict[str, Any] | None = Field(description="The run's stated constraints.")


class RecordReasoning(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal_analysis: str | None = Field(description="Reasoning of the goal-intake events.")
    component_selection: list[str] | None = Field(description="Why each component was chosen.")
    workflow_design: str | None = Field(description="The plan's reasoning, else the plan.")
    adaptation_logic: list[str] | None = Field(description="Why the run recovered or adapted.")


class RecordStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    component: str
    action: str | None
    input: Any = Field(description="The call's arguments.")
    output: Any = Field(description="The observation (or the error).")
    state_change: Any = Field(description="The state change the step recorded, else null.")


class RecordExecution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: list[RecordStep]


class RecordLearning(BaseModel):
    model_config = ConfigDict(extra="forbid")

    success_factors: list[str] | None = Field(description="Learnings of a run that succeeded.")
    optimization_opportunities: list[str] | None = Field(
        description="Learnings of a run that failed, and the errors it met."
    )
    pattern_generalization: str | None = Field(description="The run's workflow pattern.")


class ExampleStructure(BaseModel):
    """The methodology's training record: input, reasoning, execution, learning."""

    model_config = ConfigDict(extra="forbid")

    input: RecordInput
    reasoning: RecordReasoning
    execution: RecordExecution
    learning: RecordLearning


# The record fields whose null share is counted (the leaves that may have no source).
NULLABLE_RECORD_FIELDS = (
    "input.context.past_experiences",
    "input.constraints",
    "reasoning.goal_analysis",
    "reasoning.component_selection",
    "reasoning.workflow_design",
    "reasoning.adaptation_logic",
    "learning.success_factors",
    "learning.optimization_opportunities",
    "learning.pattern_generalization",
)


def render_record_schema() -> str:
    schema = ExampleStructure.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://tracelake.dev/schemas/example_record.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def record_schema() -> dict[str, Any]:
    return json.loads(RECORD_SCHEMA_FILE.read_text())


# -- table rows -----------------------------------------------------------------------------------


class ExampleRow(BaseModel):
    """One row of gold.examples: one usable run as a training example."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    example_id: str = Field(description="Stable id: hash of the run id and assembler version.")
    run_id: str = Field(description="The run.")
    seed_run_id: str | None = Field(default=None, description="Seed of a synthetic run.")
    synthetic: bool = Field(description="The run comes from scenario expansion.")
    phase: str = Field(description="orchestration, component_evolution or transfer.")
    level: int | None = Field(default=None, description="1 single-domain, 2 cross, 3 novel.")
    scenario: str | None = Field(default=None, description="Scenario (task family).")
    pattern: str | None = Field(default=None, description="Best workflow pattern's name.")
    outcome: str = Field(description="success, success_with_recovery or failure.")
    goal: str = Field(description="The run's goal.")
    goal_signature: str = Field(description="schemas.identity.goal_signature of the goal.")
    family_key: str = Field(description="Scenario family: goal template + seed lineage.")
    split: str = Field(description="train, validation or test (stable hash of family_key).")
    record: str = Field(description="The four-part record, JSON (example_record.schema.json).")
    messages: list[Message] = Field(description="The run as a conversation.")
    tools: str = Field(description="JSON list of OpenAI function tools (from component specs).")
    n_tool_calls: int = Field(description="Tool calls in the messages.")
    steps: int = Field(description="Invocations (tool calls) of the run.")
    errors: int = Field(description="Failures (schemas.runs.failures).")
    cost_usd: float = Field(description="Total cost of the run.")
    null_fields: list[str] = Field(description="Record fields with no source (left null).")
    event_ids: list[str] = Field(description="Every event the example was assembled from.")
    source_versions: str = Field(description="JSON {table: version} the job read.")
    assembler_version: int = Field(description="Version of the assembly rules.")


class RejectedRow(BaseModel):
    """One row of gold.rejected: a run (or pair) the gold and later stages did not use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reject_id: str = Field(description="Stable id: hash of stage and subject.")
    stage: str = Field(description="The job that rejected it (assemble, curate, gate, ...).")
    run_id: str = Field(description="The run (or the subject's id).")
    synthetic: bool = Field(description="The run comes from scenario expansion.")
    reason_code: str = Field(description="A documented code (docs/gold.md).")
    reason: str = Field(description="Why, in words a person can act on.")
    event_ids: list[str] = Field(description="The events concerned (all of the run's).")
    source_versions: str = Field(description="JSON {table: version} the job read.")


class PreferenceRow(BaseModel):
    """One row of gold.preferences: TRL's prompt / chosen / rejected, with provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pair_id: str = Field(description="Stable id: hash of both run ids and the source.")
    prompt: list[Message] = Field(description="System and user turns, and the shared prefix.")
    chosen: list[Message] = Field(description="The better continuation, tool calls kept.")
    rejected: list[Message] = Field(description="The worse continuation, tool calls kept.")
    tools: str = Field(description="JSON list of the tools (the chosen side's).")
    source: str = Field(description="`rule` (outcome-based) or `human` (ops.feedback).")
    reason: str = Field(description="Why this pair: the rule that ordered it, or the feedback.")
    margin: float = Field(description="How much better chosen is (rule: score difference).")
    prefix_turns: int = Field(description="Assistant turns shared before the divergence.")
    chosen_run_id: str
    rejected_run_id: str
    chosen_event_ids: list[str]
    rejected_event_ids: list[str]
    seed_run_id: str | None = Field(default=None, description="Common seed of both runs.")
    feedback_id: str | None = Field(default=None, description="ops.feedback row of a human pair.")
    annotator: str | None = Field(default=None, description="Who gave the feedback.")
    split: str = Field(description="Both runs' split (a pair never spans splits).")


class ConstitutionalRow(BaseModel):
    """One row of gold.constitutional_pairs: a rule, a critique, a (compliant, violating) pair."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pair_id: str = Field(description="Stable id: hash of the violating run and the rule.")
    rule: str = Field(description="The constitution rule broken (constitution.yaml id).")
    critique: str = Field(description="Which rule the trajectory broke and why, in words.")
    prompt: list[Message] = Field(description="System and user turns.")
    chosen: list[Message] = Field(description="The compliant trajectory.")
    rejected: list[Message] = Field(description="The violating trajectory.")
    critique_messages: list[Message] = Field(description="Given the trajectory, name the rule.")
    tools: str = Field(description="JSON list of the tools.")
    violating_run_id: str
    compliant_run_id: str
    compliant_source: str = Field(
        description="`sibling` (a compliant variation of the same "
        "seed) or `revised` (re-executed without the violation)."
    )
    seed_run_id: str | None = None
    split: str


class FeedbackRow(BaseModel):
    """One row of ops.feedback: a human preference or rating of runs (any labelling tool may
    append rows of this shape)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feedback_id: str = Field(description="Unique id of the judgement.")
    kind: str = Field(description="`preference` (chosen over rejected) or `rating`.")
    run_id: str = Field(description="The preferred run (preference) or the rated run.")
    other_run_id: str | None = Field(default=None, description="The run it was preferred over.")
    rating: float | None = Field(default=None, description="Rating of run_id, 0..1.")
    annotator: str = Field(description="Who judged.")
    recorded_at: str = Field(description="When, ISO 8601 UTC.")
    note: str | None = Field(default=None, description="Why, in the annotator's words.")


def _schemas():  # imported late: schemas.arrow derives types from the models above
    import pyarrow as pa

    from .arrow import model_fields_to_arrow

    return tuple(
        pa.schema(model_fields_to_arrow(m))
        for m in (ExampleRow, RejectedRow, PreferenceRow, ConstitutionalRow, FeedbackRow)
    )


(
    EXAMPLES_SCHEMA,
    REJECTED_SCHEMA,
    PREFERENCES_SCHEMA,
    CONSTITUTIONAL_SCHEMA,
    FEEDBACK_SCHEMA,
) = _schemas()


def main() -> None:
    RECORD_SCHEMA_FILE.write_text(render_record_schema())
    print(f"wrote {RECORD_SCHEMA_FILE}")


if __name__ == "__main__":
    main()
