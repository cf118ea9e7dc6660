"""component_evolution examples (pure): from a silver.component_evolution row that improved a
component, "given the component's definition and its error history, produce the improved
version and say why". The definitions are the versions' component specs; the error history and
the why are the row's evidence (rates, intervals, verdict) and its change note.

These rows have no run: their `run_id` is the evolution's key (`evolution:<component>@<from>->
<to>:<population>`), their family is the component (all of a component's evolutions share a
split) and their lineage is the source table version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracelake.schemas.component_spec import ComponentSpec, version_key
from tracelake.schemas.gold import ASSEMBLER_VERSION, ExampleStructure
from tracelake.schemas.identity import goal_signature

from ..environment.specs import builtin_specs
from .assemble import _dumps, _message, null_fields, split_of, stable_id

PHASE = "component_evolution"
SYSTEM_PROMPT = (
    "You maintain agent components. Given a component's definition and its error history, "
    "write the improved version as a component spec and say why it is better."
)


def _padded(version: str) -> tuple[int, ...]:
    try:
        key = version_key(version)
    except ValueError:
        return ()
    return key + (0,) * (3 - len(key))


def spec_of(name: str, version: str) -> ComponentSpec | None:
    """The spec of name@version; versions compare numerically (lineage writes `1.0` as 1.0.0)."""
    wanted = _padded(version)
    for spec in builtin_specs().values():
        if spec.name == name and wanted and _padded(spec.version) == wanted:
            return spec
    return None


def run_id_of(row: Mapping[str, Any]) -> str:
    return (
        f"evolution:{row['component']}@{row['from_version']}->{row['to_version']}:"
        f"{row['population']}"
    )


def _history(row: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("from_runs", "from_calls", "from_error_rate", "from_success_rate", "from_latency_ms")
    return {k.removeprefix("from_"): row[k] for k in keys if row.get(k) is not None}


def evolution_example(
    row: Mapping[str, Any], source_versions: str, validation: float = 0.1, test: float = 0.1
) -> tuple[dict[str, Any] | None, str | None]:
    """(example, None), or (None, why this evolution gives no example)."""
    if row["verdict"] != "improved":
        return None, "not_improved"
    old, new = (
        spec_of(row["component"], row["from_version"]),
        spec_of(row["component"], row["to_version"]),
    )
    if old is None or new is None:
        return None, "no_spec"
    why = row.get("change_note") or new.change_note
    goal = f"Improve {old.key}"
    old_doc, new_doc = old.model_dump(mode="json"), new.model_dump(mode="json")
    history = _history(row)
    answer = (
        f"{_dumps(new_doc)}\n\nWhy: {why or 'see the evidence'}. Evidence: {row['verdict_reason']}"
    )
    messages = [
        _message("system", SYSTEM_PROMPT),
        _message(
            "user",
            f"{goal}.\nDefinition: {_dumps(old_doc)}\nError history: {_dumps(history)}",
        ),
        _message("assistant", answer),
    ]
    record = {
        "input": {
            "goal": goal,
            "context": {"available_components": [old.key], "past_experiences": None},
            "constraints": None,
        },
        "reasoning": {
            "goal_analysis": row["verdict_reason"],
            "component_selection": None,
            "workflow_design": None,
            "adaptation_logic": [why] if why else None,
        },
        "execution": {
            "steps": [
                {
                    "component": old.name,
                    "action": "evolve_component",
                    "input": {"definition": old_doc, "error_history": history},
                    "output": new_doc,
                    "state_change": {"active": new.key},
                }
            ]
        },
        "learning": {
            "success_factors": [row["verdict_reason"]],
            "optimization_opportunities": None,
            "pattern_generalization": None,
        },
    }
    ExampleStructure.model_validate(record)
    family = f"component:{row['component']}"
    run_id = run_id_of(row)
    return {
        "example_id": stable_id(run_id, str(ASSEMBLER_VERSION)),
        "run_id": run_id,
        "seed_run_id": None,
        "synthetic": row["population"] == "synthetic",
        "phase": PHASE,
        "level": None,
        "scenario": None,
        "pattern": None,
        "outcome": "success",
        "goal": goal,
        "goal_signature": goal_signature(goal),
        "family_key": family,
        "split": split_of(family, validation, test),
        "record": _dumps(record),
        "messages": messages,
        "tools": "[]",
        "n_tool_calls": 0,
        "steps": 1,
        "errors": 0,
        "cost_usd": 0.0,
        "null_fields": null_fields(record),
        "event_ids": [],
        "source_versions": source_versions,
        "assembler_version": ASSEMBLER_VERSION,
    }, None


def evolution_examples(
    rows: list[Mapping[str, Any]], source_versions: str, validation: float, test: float
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    out: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    for row in rows:
        example, why = evolution_example(row, source_versions, validation, test)
        if example is not None:
            out.append(example)
        elif why is not None:
            skipped[why] = skipped.get(why, 0) + 1
    return out, skipped
