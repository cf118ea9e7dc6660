"""Assembly: one run's events -> a training example (gold.examples) or a rejection (gold.rejected).

A pure function of the run's events and a few facts about the run from other tables (its
synthetic lineage, its workflow pattern, the goal of its lineage root), so the Spark jobs, the
golden tests and the benchmark all run the same code. docs/gold.md describes the rules.

Conversation shape (what the trainer's template renders):
  system     fixed instructions and the available component versions (the tools are in `tools`)
  user       the goal, and the run's constraints when it stated any
  assistant  per batch of top-level invocations: the reasoning recorded since the last turn (plan,
             memory, component choice, recovery) and the calls; several calls issued before any
             result came back (a parallel fetch) are one turn
  tool       one per call, its observation (output, else the error)
  assistant  the final answer and what the run learned

Weights: assistant turns 1; a turn whose call failed 0 (the retry or fallback after it keeps 1,
so a model learns the recovery, not the failure); a failed run's closing turn 0. Prompts and
observations are 0 (the trainer forces that too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from tracelake.schemas.component_spec import ComponentSpec, argument_problems
from tracelake.schemas.gold import ASSEMBLER_VERSION, NULLABLE_RECORD_FIELDS, ExampleStructure
from tracelake.schemas.identity import goal_signature
from tracelake.schemas.runs import failures

from ..environment.specs import builtin_specs
from ..environment.tasks import META_TOOLS, meta_tool_schemas

SYSTEM_PROMPT = (
    "You are an orchestrating agent. Analyse the goal, choose components, plan the workflow, "
    "call the components as tools with JSON arguments, observe each result, recover from "
    "failures, then give the final answer and what you learned."
)
INVOCATIONS = frozenset({"tool_call", "delegation"})
RESULTS = frozenset({"tool_result", "agent_message", "error"})
TERMINAL = frozenset({"run_completed", "run_failed"})
# Meta events of the environment: a call of the meta tool when the event carries its input.
META_EVENTS = frozenset({"component_created", "component_evolved", "memory_consulted"})
# Events that may carry a component's spec document: its creation or evolution, or (simulated
# runs) the selection of a component an earlier run created.
SPEC_EVENTS = frozenset({"component_created", "component_evolved", "component_selected"})
TASK_LIMITS = ("budget_usd", "max_steps")
LEVELS = {"single_domain": 1, "cross_domain": 2, "novel": 3}
_META_SCHEMAS = {t["function"]["name"]: t for t in meta_tool_schemas()}

# Reason codes of gold.rejected written by assembly (docs/gold.md lists every code).
NO_GOAL = "no_goal"
NO_END = "no_end"
NO_STEPS = "no_steps"
CONTRADICTORY = "contradictory_events"
UNKNOWN_TOOL = "unknown_tool"
NON_JSON_ARGUMENTS = "non_json_arguments"
INVALID_ARGUMENTS = "invalid_arguments"
REASON_CODES = (
    NO_GOAL,
    NO_END,
    NO_STEPS,
    CONTRADICTORY,
    UNKNOWN_TOOL,
    NON_JSON_ARGUMENTS,
    INVALID_ARGUMENTS,
)


@dataclass(frozen=True)
class RunFacts:
    """What assembly knows about a run besides its events."""

    synthetic: bool = False
    seed_run_id: str | None = None
    level: int | None = None  # synthetic lineage's level; real runs use scenario_level
    lineage_goal: str | None = None  # goal of the lineage root (the seed, or the run itself)
    pattern: str | None = None
    source_versions: str = "{}"


@dataclass
class Assembled:
    example: dict[str, Any] | None = None
    rejected: dict[str, Any] | None = None


class Rejection(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


# -- small helpers -------------------------------------------------------------------------------


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except (orjson.JSONDecodeError, TypeError):
        return text


def _dumps(value: Any) -> str:
    """Compact JSON with sorted keys (orjson: a third of assembly's time went to json.dumps)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _attrs(event: Mapping[str, Any]) -> dict[str, str]:
    raw = event.get("attributes") or {}
    return dict(raw) if not isinstance(raw, dict) else raw


def stable_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def split_of(family_key: str, validation: float = 0.1, test: float = 0.1) -> str:
    """train / validation / test from a stable hash of the scenario family."""
    bucket = int(hashlib.sha256(family_key.encode()).hexdigest()[:8], 16) / 0x1_0000_0000
    if bucket < test:
        return "test"
    if bucket < test + validation:
        return "validation"
    return "train"


def family_key(goal: str, lineage_goal: str | None, seed_run_id: str | None) -> str:
    """The scenario family: the goal signature of the lineage root's goal, so a seed and all its
    variations (whatever their own goals became) share it."""
    if lineage_goal:
        return goal_signature(lineage_goal)
    if seed_run_id:  # the seed's events are gone (erased): its lineage still groups
        return f"seed:{seed_run_id}"
    return goal_signature(goal)


def _ordered(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return sorted((dict(e) for e in events), key=lambda e: (e["seq"], str(e["ts"]), e["event_id"]))


def declared_tools(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Tool schemas the run itself declared for components created or evolved on demand, by
    name@version: from the spec document (or the environment's rendering of it) their events
    carry, never inferred from the calls."""
    out: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["event_type"] not in SPEC_EVENTS:
            continue
        for text in (e.get("output"), e.get("input")):
            doc = _json(text)
            if not isinstance(doc, dict):
                continue
            if isinstance(doc.get("spec"), dict):
                try:
                    spec = ComponentSpec.model_validate(doc["spec"])
                except ValueError:
                    continue
                out[spec.key] = spec.tool_schema()
            key = doc.get("created") or doc.get("active")
            tool = doc.get("tool")
            if isinstance(key, str) and isinstance(tool, dict) and "function" in tool:
                out[key] = tool
    return out


# -- the checks (each raises Rejection with its code) ----------------------------------------------


def _check_run(events: list[dict[str, Any]]) -> str:
    goals = [e["goal"] for e in events if e.get("goal")]
    if not goals or not str(goals[0]).strip():
        raise Rejection(NO_GOAL, "no event of the run states a goal")
    terminals = {e["event_type"] for e in events if e["event_type"] in TERMINAL}
    if len(terminals) > 1:
        raise Rejection(CONTRADICTORY, "the run both completed and failed")
    started = {e.get("goal") for e in events if e["event_type"] == "run_started" and e.get("goal")}
    if len(started) > 1:
        raise Rejection(CONTRADICTORY, f"{len(started)} run_started events with different goals")
    seqs: dict[int, str] = {}
    for e in events:
        if seqs.setdefault(e["seq"], e["event_type"]) != e["event_type"]:
            raise Rejection(CONTRADICTORY, f"two different events at seq {e['seq']}")
    if not terminals:
        raise Rejection(NO_END, "the run has no run_completed or run_failed event")
    return str(goals[0])


def _call_name(e: dict[str, Any]) -> str:
    return e["action"] if e["event_type"] in META_EVENTS else e.get("component_name") or ""


def _is_meta_call(e: dict[str, Any]) -> bool:
    return e["event_type"] in META_EVENTS and e.get("action") in META_TOOLS and bool(e.get("input"))


def _tool_for(
    e: dict[str, Any], specs: Mapping[str, ComponentSpec], declared: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    """The tool schema a call is validated against (from specs only)."""
    if _is_meta_call(e):
        return _META_SCHEMAS[e["action"]]
    key = f"{e.get('component_name')}@{e.get('component_version')}"
    if key in declared:
        return declared[key]
    spec = specs.get(key)
    if spec is None:
        raise Rejection(UNKNOWN_TOOL, f"no component spec for {key}")
    return spec.tool_schema()


def _arguments(e: dict[str, Any], tool: dict[str, Any]) -> dict[str, Any]:
    name = tool["function"]["name"]
    text = e.get("input")
    try:
        args = orjson.loads(text) if text is not None else {}
    except orjson.JSONDecodeError as exc:
        raise Rejection(
            NON_JSON_ARGUMENTS, f"seq {e['seq']} {name}: arguments are not JSON ({exc.msg})"
        ) from None
    if not isinstance(args, dict):
        raise Rejection(NON_JSON_ARGUMENTS, f"seq {e['seq']} {name}: arguments are not an object")
    problems = argument_problems(tool["function"]["parameters"], args)
    if problems:
        raise Rejection(INVALID_ARGUMENTS, f"seq {e['seq']} {name}: {'; '.join(problems[:3])}")
    return args


# -- the conversation ----------------------------------------------------------------------------


@dataclass
class _Call:
    event: dict[str, Any]
    name: str
    args: dict[str, Any]
    observation: str | None = None
    failed: bool = False
    state_change: Any = None


@dataclass
class _Turn:
    reasoning: list[str]
    calls: list[_Call] = field(default_factory=list)
    closed: bool = False


def _observation(result: dict[str, Any]) -> str:
    if result.get("status") == "error" or result["event_type"] == "error":
        kind = result.get("error_type") or "error"
        return f"error ({kind}): {result.get('error') or result.get('output') or ''}".rstrip(": ")
    return str(result.get("output") or "")


def _learning_text(e: dict[str, Any]) -> str | None:
    text = e.get("reasoning") or e.get("output") or e.get("action")
    return str(text) if text else None


def _answer(terminal: dict[str, Any]) -> str:
    out = _json(terminal.get("output"))
    if isinstance(out, dict) and isinstance(out.get("answer"), str):
        text = out["answer"]
    elif terminal.get("output"):
        text = str(terminal["output"])
    else:
        text = ""
    if terminal["event_type"] == "run_failed" and terminal.get("error"):
        text = f"{text}\n{terminal['error']}".strip()
    return text


def _message(role: str, content: str = "", **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": role, "content": content, "reasoning": None, "name": None}
    msg.update(tool_calls=None, weight=0.0 if role != "assistant" else 1.0)
    msg.update(extra)
    return msg


def assemble(
    events: Iterable[Mapping[str, Any]],
    facts: RunFacts = RunFacts(),
    specs: Mapping[str, ComponentSpec] | None = None,
    *,
    validation: float = 0.1,
    test: float = 0.1,
) -> Assembled:
    """One run's events (all of them) -> its gold.examples row or its gold.rejected row."""
    ordered = _ordered(events)
    run_id = ordered[0]["run_id"]
    event_ids = [e["event_id"] for e in ordered]
    try:
        return Assembled(
            example=_example(ordered, facts, specs or builtin_specs(), validation, test)
        )
    except Rejection as rej:
        return Assembled(
            rejected={
                "reject_id": stable_id("assemble", run_id),
                "stage": "assemble",
                "run_id": run_id,
                "synthetic": facts.synthetic,
                "reason_code": rej.code,
                "reason": rej.reason,
                "event_ids": event_ids,
                "source_versions": facts.source_versions,
            }
        )


def _example(
    events: list[dict[str, Any]],
    facts: RunFacts,
    specs: Mapping[str, ComponentSpec],
    validation: float,
    test: float,
) -> dict[str, Any]:
    goal = _check_run(events)
    run_id = events[0]["run_id"]
    declared = declared_tools(events)
    by_id = {e["event_id"]: e for e in events}
    invocations = [e for e in events if e["event_type"] in INVOCATIONS or _is_meta_call(e)]
    inv_ids = {e["event_id"] for e in invocations}
    # Every call is validated, nested ones (made by a delegated agent) included.
    called: dict[str, dict[str, Any]] = {}
    calls: dict[str, _Call] = {}
    for e in invocations:
        tool = _tool_for(e, specs, declared)
        calls[e["event_id"]] = _Call(e, tool["function"]["name"], _arguments(e, tool))
        if e.get("parent_event_id") not in inv_ids:
            called[tool["function"]["name"]] = tool  # the last version called is the one offered
    top = [c for c in calls.values() if c.event.get("parent_event_id") not in inv_ids]
    if not top:
        raise Rejection(NO_STEPS, "the run made no tool call or delegation")

    failed_ids = failures(events)
    reasoning: list[str] = []
    turns: list[_Turn] = []
    current: _Turn | None = None
    constraints: dict[str, Any] | None = None
    past: list[str] | None = None
    goal_analysis: list[str] = []
    selection: list[str] = []
    plan_notes: list[str] = []
    plan_text: str | None = None
    adaptation: list[str] = []
    learnings: list[str] = []
    available: dict[str, str] = {}
    offers_meta = False  # the environment offers its meta tools to every task it runs
    last_call: _Call | None = None
    terminal = events[-1]
    for e in events:
        kind = e["event_type"]
        parent = e.get("parent_event_id")
        if kind in ("run_started", "goal_received"):
            inp = _json(e.get("input"))
            if isinstance(inp, dict):
                if isinstance(inp.get("constraints"), dict) and constraints is None:
                    constraints = inp["constraints"]
                task = inp.get("task")
                if isinstance(task, dict):
                    offers_meta = True
                    # an environment task states its limits: the run's constraints
                    limits = {k: task[k] for k in TASK_LIMITS if task.get(k) is not None}
                    if limits and constraints is None:
                        constraints = limits
                    for key in task.get("components") or []:
                        name, _, version = str(key).partition("@")
                        available.setdefault(name, version)
            if e.get("reasoning"):
                goal_analysis.append(e["reasoning"])
        elif kind == "component_selected" and e.get("component_name"):
            available.setdefault(e["component_name"], e.get("component_version") or "")
            if e.get("reasoning"):
                selection.append(e["reasoning"])
        elif kind == "plan_created":
            plan_text = e.get("output") or e.get("input") or plan_text
            if e.get("reasoning"):
                plan_notes.append(e["reasoning"])
        elif kind == "memory_consulted":
            out = _json(e.get("output"))
            found = out.get("experiences") if isinstance(out, dict) else out
            past = (past or []) + [
                x if isinstance(x, str) else _dumps(x) for x in (found or []) if x
            ]
        elif kind in ("recovery", "component_evolved") and e.get("reasoning"):
            adaptation.append(e["reasoning"])
        elif kind == "learning_recorded":
            text = _learning_text(e)
            if text:
                learnings.append(text)
        elif kind == "state_changed" and last_call is not None and last_call.state_change is None:
            last_call.state_change = _json(e.get("state_change"))
        if kind in TERMINAL:
            terminal = e
        # the conversation
        if e["event_id"] in calls and parent not in inv_ids:
            call = calls[e["event_id"]]
            if _is_meta_call(e):  # a meta event is its own result
                call.observation = _observation(e)
                call.failed = e.get("status") == "error"
            if current is None or current.closed:
                current = _Turn(reasoning)
                reasoning = []
                turns.append(current)
            if e.get("reasoning") and e["event_type"] not in META_EVENTS:
                current.reasoning.append(e["reasoning"])
            current.calls.append(call)
            current.closed = _is_meta_call(e)  # a meta call is answered at once
            last_call = call
            continue
        if kind in RESULTS and parent in calls:
            call = calls[parent]
            if call.observation is None:
                call.observation = _observation(e)
            call.failed = call.failed or e.get("status") == "error" or kind == "error"
            if e.get("state_change") is not None and call.state_change is None:
                call.state_change = _json(e["state_change"])
        elif kind in RESULTS and parent in by_id and by_id[parent].get("parent_event_id") in calls:
            pass  # an error event under a result: the result already said it
        elif e.get("reasoning") and kind not in ("learning_recorded", *TERMINAL):
            reasoning.append(e["reasoning"])
        if current is not None:  # a call after anything else starts a new turn
            current.closed = True

    for call in top:  # a delegate's own calls are not the orchestrator's components
        called_name = call.event.get("component_name")
        if called_name and call.event["event_type"] in INVOCATIONS:
            available.setdefault(called_name, call.event.get("component_version") or "")
    available.pop("SystemAgent", None)
    components = sorted(f"{n}@{v}" if v else n for n, v in available.items())
    # The tools offered: every available component whose spec is known, at the version called
    # last (else the one available), and the meta tools where the environment offered them.
    offered = {t["function"]["name"]: t for t in _META_SCHEMAS.values()} if offers_meta else {}
    for name, version in available.items():
        key = f"{name}@{version}"
        spec = declared.get(key) or (specs[key].tool_schema() if key in specs else None)
        if spec is not None:
            offered[name] = spec
    offered.update(called)
    tools = [offered[name] for name in sorted(offered)]

    outcome = _outcome(terminal, events, failed_ids)
    messages = [
        _message("system", f"{SYSTEM_PROMPT}\nAvailable components: {', '.join(components)}."),
        _message(
            "user",
            goal + (f"\n\nConstraints: {_dumps(constraints)}" if constraints else ""),
        ),
    ]
    n_calls = 0
    for turn in turns:
        tool_calls = []
        for call in turn.calls:
            tool_calls.append(
                {
                    "id": f"call_{n_calls}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": _dumps(call.args)},
                }
            )
            n_calls += 1
        messages.append(
            _message(
                "assistant",
                reasoning="\n".join(turn.reasoning) or None,
                tool_calls=tool_calls,
                weight=0.0 if any(c.failed for c in turn.calls) else 1.0,
            )
        )
        for call in turn.calls:
            if call.observation is not None:  # a call with no recorded result gets no tool turn
                messages.append(_message("tool", call.observation, name=call.name))
    answer = _answer(terminal)
    if learnings:
        answer = f"{answer}\n\nLearned:\n" + "\n".join(f"- {t}" for t in learnings)
    messages.append(
        _message(
            "assistant",
            answer.strip(),
            reasoning="\n".join(reasoning) or None,
            weight=0.0 if outcome == "failure" else 1.0,
        )
    )

    succeeded = outcome != "failure"
    errors = [c.observation for c in calls.values() if c.failed and c.observation]
    record = {
        "input": {
            "goal": goal,
            "context": {"available_components": components, "past_experiences": past},
            "constraints": constraints,
        },
        "reasoning": {
            "goal_analysis": "\n".join(goal_analysis) or None,
            "component_selection": selection or None,
            "workflow_design": "\n".join(plan_notes) or plan_text,
            "adaptation_logic": adaptation or None,
        },
        "execution": {
            "steps": [
                {
                    "component": c.name,
                    "action": c.event.get("action"),
                    "input": c.args,
                    "output": _json(c.observation),
                    "state_change": c.state_change,
                }
                for c in top
            ]
        },
        "learning": {
            "success_factors": learnings if succeeded and learnings else None,
            "optimization_opportunities": (([] if succeeded else learnings) + errors) or None,
            "pattern_generalization": facts.pattern,
        },
    }
    ExampleStructure.model_validate(record)  # the JSON Schema's source model
    level = facts.level or LEVELS.get(_first(events, "scenario_level") or "")
    key = family_key(goal, facts.lineage_goal, facts.seed_run_id)
    return {
        "example_id": stable_id(run_id, str(ASSEMBLER_VERSION)),
        "run_id": run_id,
        "seed_run_id": facts.seed_run_id,
        "synthetic": facts.synthetic,
        "phase": "transfer" if level in (2, 3) else "orchestration",
        "level": level,
        "scenario": _first(events, "scenario"),
        "pattern": facts.pattern,
        "outcome": outcome,
        "goal": goal,
        "goal_signature": goal_signature(goal),
        "family_key": key,
        "split": split_of(key, validation, test),
        "record": _dumps(record),
        "messages": messages,
        "tools": _dumps(tools),
        "n_tool_calls": n_calls,
        "steps": len(top),
        "errors": len(failed_ids),
        "cost_usd": float(sum(e.get("cost_usd") or 0.0 for e in events)),
        "null_fields": null_fields(record),
        "event_ids": [e["event_id"] for e in events],
        "source_versions": facts.source_versions,
        "assembler_version": ASSEMBLER_VERSION,
    }


def _first(events: list[dict[str, Any]], column: str) -> Any:
    return next((e[column] for e in events if e.get(column)), None)


def _outcome(terminal: dict[str, Any], events: list[dict[str, Any]], failed: set[str]) -> str:
    """schemas/runs.py's rule: failure, success_with_recovery, success."""
    if terminal["event_type"] == "run_failed":
        return "failure"
    if failed or any(e["event_type"] == "recovery" for e in events):
        return "success_with_recovery"
    return "success"


def null_fields(record: dict[str, Any]) -> list[str]:
    out = []
    for path in NULLABLE_RECORD_FIELDS:
        value: Any = record
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            out.append(path)
    return out
