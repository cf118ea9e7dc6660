"""Tasks: the held-out evaluation set (versioned data files) and generated training tasks.

A task file is JSON Lines, one task per line. `load_tasks` validates every task: a task that
names an unknown component or asks for a final state no available component can produce is
rejected with the file, the line and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...schemas.component_spec import ComponentSpec
from .specs import builtin_specs
from .success import condition_problems
from .world import ENGLISH, LONG_DOCUMENT_LANGUAGES, SITE_LANGUAGE

TASKSET_VERSION = "v1"
TASKS_DIR = Path(__file__).with_name("tasks") / TASKSET_VERSION
LEVELS = (1, 2, 3)
META_TOOLS = ("create_component", "evolve_component", "recall_memory")

# What each output kind needs, as a capability some available component must have.
_KIND_NEEDS = {
    "summary": "summarize",
    "findings": "analyse",
    "draft": "draft",
    "translation": "translate",
}


@dataclass(frozen=True)
class Task:
    """One held-out or training task."""

    task_id: str
    level: int  # 1 single-domain, 2 cross-domain, 3 novel (a capability gap)
    family: str
    goal: str
    tools: list[dict]  # OpenAI function-tool schemas (components + meta tools)
    max_steps: int
    budget_usd: float
    expert_plan: list[dict]  # [{"name": tool, "arguments": {...}}, ...]
    components: tuple[str, ...] = ()  # available `name@version`; first listed version is active
    success: dict[str, Any] = field(default_factory=dict)  # condition on the final state
    capability_gap: dict[str, Any] | None = None  # L3: {"capability", "component", "kind", ...}
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # files present at start
    split: str = "holdout"  # holdout | train
    slots: dict[str, Any] = field(default_factory=dict)  # the values the goal was filled with

    def to_json(self) -> dict[str, Any]:
        """The task file record (tools are derived from the components, not stored)."""
        return {
            "task_id": self.task_id,
            "level": self.level,
            "family": self.family,
            "goal": self.goal,
            "components": list(self.components),
            "max_steps": self.max_steps,
            "budget_usd": self.budget_usd,
            "success": self.success,
            "capability_gap": self.capability_gap,
            "inputs": self.inputs,
            "expert_plan": self.expert_plan,
            "split": self.split,
            "slots": self.slots,
        }


class TaskError(ValueError):
    """A task record that cannot be used; the message says where and why."""


def meta_tool_schemas() -> list[dict]:
    return [
        {
            "type": "function",
            "function": {
                "name": "create_component",
                "description": "Write a new component; if its spec is valid it can be called "
                "at once. It must take `inputs` (artifact ids) and declare its capabilities.",
                "parameters": {
                    "type": "object",
                    "properties": {"spec": {"type": "object", "description": "ComponentSpec."}},
                    "required": ["spec"],
                    "additionalProperties": False,
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "evolve_component",
                "description": "Switch a component to another available version, or write a "
                "new version with changes (retries, retry_on, fallback, timeout_ms, "
                "capabilities) and a change note.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "change_note": {"type": "string"},
                        "changes": {"type": "object"},
                    },
                    "required": ["name", "version"],
                    "additionalProperties": False,
                },
            },
        },
        {
            "type": "function",
            "function": {
                "name": "recall_memory",
                "description": "What past runs learned about tasks like this one.",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}},
                    "additionalProperties": False,
                },
            },
        },
    ]


def resolve_components(
    keys: Iterable[str], extra: dict[str, ComponentSpec] | None = None
) -> dict[str, ComponentSpec]:
    known = {**builtin_specs(), **(extra or {})}
    out: dict[str, ComponentSpec] = {}
    for key in keys:
        if key not in known:
            raise TaskError(f"unknown component {key!r}")
        out[key] = known[key]
    return out


def tools_for(components: Iterable[str]) -> list[dict]:
    """Function tools of the active (first listed) version of each component + meta tools."""
    specs = resolve_components(components)
    seen: dict[str, ComponentSpec] = {}
    for spec in specs.values():
        if spec.name != "SystemAgent":
            seen.setdefault(spec.name, spec)
    return [s.tool_schema() for s in seen.values()] + meta_tool_schemas()


def validate_task(record: Any) -> list[str]:
    """Reasons a task record cannot be used (empty when it can)."""
    if not isinstance(record, dict):
        return ["task is not a JSON object"]
    required = ("task_id", "level", "family", "goal", "components", "success", "expert_plan")
    missing = [k for k in required if k not in record]
    if missing:
        return [f"missing {', '.join(missing)}"]
    problems: list[str] = []
    if record["level"] not in LEVELS:
        problems.append(f"level {record['level']!r} is not 1, 2 or 3")
    known = builtin_specs()
    unknown = [c for c in record["components"] if c not in known]
    problems.extend(f"unknown component {c!r}" for c in unknown)
    problems.extend(f"success: {p}" for p in condition_problems(record["success"]))
    if unknown or problems:
        return problems
    caps = {c for k in record["components"] for c in known[k].capabilities}
    gap = record.get("capability_gap")
    if record["level"] == 3 and not gap:
        problems.append("a level-3 task needs a capability_gap")
    if gap:
        if gap.get("capability") in caps:
            problems.append(f"capability gap {gap.get('capability')!r} is already available")
        caps.add(gap.get("capability"))
    cond = record["success"]
    for kind in cond.get("kind", []):
        need = _KIND_NEEDS.get(kind)
        if need and need not in caps and len(cond["kind"]) == 1:
            problems.append(f"success asks for a {kind} but no component can {need}")
    cap = cond.get("capability")
    if cap and cap not in caps:
        problems.append(f"success needs capability {cap!r}, which no component or gap provides")
    langs = set(cond.get("source_languages", ()))
    unknown_langs = langs - set(SITE_LANGUAGE.values()) - {ENGLISH}
    if unknown_langs:
        problems.append(f"no site publishes in {', '.join(sorted(unknown_langs))}")
    if langs - {ENGLISH} and cond.get("language") == ENGLISH and "translate" not in caps:
        problems.append("foreign sources must be translated but no component can translate")
    long_langs = langs & LONG_DOCUMENT_LANGUAGES
    if long_langs and "translate" in caps and "chunking" not in caps and not _can_evolve(record):
        problems.append(f"{', '.join(sorted(long_langs))} sources need a chunking translator")
    if cond.get("reviewed") and "review" not in caps:
        problems.append("success asks for a reviewed file but no component can review")
    if not record["expert_plan"]:
        problems.append("expert_plan is empty")
    for i, step in enumerate(record["expert_plan"]):
        if not isinstance(step, dict) or not isinstance(step.get("arguments"), dict):
            problems.append(f"expert_plan[{i}] needs a name and an arguments object")
    return problems


def _can_evolve(record: dict) -> bool:
    return any(s.get("name") == "evolve_component" for s in record.get("expert_plan", ()))


def task_from_record(record: dict[str, Any], where: str) -> Task:
    problems = validate_task(record)
    if problems:
        raise TaskError(f"{where}: task {record.get('task_id', '?')}: {'; '.join(problems)}")
    return Task(
        task_id=record["task_id"],
        level=record["level"],
        family=record["family"],
        goal=record["goal"],
        tools=tools_for(record["components"]),
        max_steps=int(record.get("max_steps", 20)),
        budget_usd=float(record.get("budget_usd", 1.0)),
        expert_plan=record["expert_plan"],
        components=tuple(record["components"]),
        success=record["success"],
        capability_gap=record.get("capability_gap"),
        inputs=record.get("inputs", {}),
        split=record.get("split", "holdout"),
        slots=record.get("slots", {}),
    )


def read_task_file(path: Path) -> list[Task]:
    tasks: list[Task] = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TaskError(f"{path}:{n}: not JSON ({exc.msg}); fix or remove the line") from exc
        tasks.append(task_from_record(record, f"{path}:{n}"))
    return tasks


def task_file(level: int, directory: Path = TASKS_DIR) -> Path:
    return directory / f"level{level}.jsonl"


def load_tasks(levels: Iterable[int] = LEVELS, directory: Path = TASKS_DIR) -> list[Task]:
    """The held-out task set (evaluation only: never train on it)."""
    out: list[Task] = []
    for level in levels:
        if level not in LEVELS:
            raise TaskError(f"level {level!r} is not one of 1, 2, 3")
        out.extend(read_task_file(task_file(level, directory)))
    return out
