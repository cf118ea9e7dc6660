"""Which held-out tasks get an injected fault and which change their requirement mid-episode.

Chosen from the task id alone (a hash), so every policy meets the same scenarios; a trial's
environment seed is derived from the evaluation seed, the task and the trial.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ..environment.specs import builtin_specs
from ..environment.tasks import META_TOOLS, Task

FAULT_EVERY = 3  # one task in three gets an injected fault
CHANGE_EVERY = 2  # one level-3 task in two changes its requirement mid-episode
# Injected error types, first one a component does not retry by itself (so the policy sees it).
FAULT_TYPES = ("bad_output", "timeout", "http_403", "rate_limited")
# A persistent fault fails this many consecutive calls: more than the oracle retries.
PERSISTENT_CALLS = 4


@dataclass(frozen=True)
class Fault:
    step: int  # 1-based environment step (the expert plan's step when nothing went wrong)
    error_type: str
    tool: str
    persistent: bool = False

    def injections(self) -> dict[int, str]:
        n = PERSISTENT_CALLS if self.persistent else 1
        return {self.step + i: self.error_type for i in range(n)}


@dataclass(frozen=True)
class Change:
    after_turn: int
    changes: dict[str, Any]
    message: str


@dataclass(frozen=True)
class Case:
    task: Task
    fault: Fault | None = None
    change: Change | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def trial_seed(seed: int, task_id: str, trial: int) -> int:
    return _h(f"{seed}|{task_id}|{trial}")


def fault_for(task: Task, persistent: bool = False) -> Fault | None:
    """A fault on one of the expert plan's component calls (never a meta tool)."""
    steps = [i for i, s in enumerate(task.expert_plan) if s["name"] not in META_TOOLS]
    if not steps:
        return None
    index = steps[_h("fault|" + task.task_id) % len(steps)]
    tool = task.expert_plan[index]["name"]
    specs = builtin_specs()
    key = next((k for k in task.components if k.startswith(f"{tool}@")), None)
    retry_on = set(specs[key].retry_on) if key and key in specs else set()
    error = next(e for e in FAULT_TYPES if e not in retry_on)
    return Fault(index + 1, error, tool, persistent)


def change_for(task: Task) -> Change | None:
    """A new file path for the deliverable, announced before the expert plan writes it."""
    old = task.success.get("file")
    writes = [i for i, s in enumerate(task.expert_plan) if s["name"] == "FileWriterTool"]
    if not old or not writes:
        return None
    stem, dot, ext = old.rpartition(".")
    new = f"{stem}-revised.{ext}" if dot else f"{old}-revised"
    turn = max(1, min(writes[0], len(task.expert_plan) // 2))
    message = (
        f"Change of requirements: save the final report as {new} instead of {old}. "
        "Everything else stays the same."
    )
    return Change(turn, {"file": new}, message)


def cases_for(tasks: list[Task], faults: bool = True, changes: bool = True) -> list[Case]:
    out = []
    for task in tasks:
        fault = fault_for(task) if faults and _h(task.task_id) % FAULT_EVERY == 0 else None
        change = None
        if changes and task.level == 3 and _h("change|" + task.task_id) % CHANGE_EVERY == 0:
            change = change_for(task)
        tags = tuple(t for t, on in (("fault", fault), ("change", change)) if on)
        out.append(Case(task, fault, change, tags))
    return out


def interrupt_for(change: Change | None) -> Any:
    """The episode loop's interrupt hook for a requirement change (None: no change)."""
    if change is None:
        return None

    def interrupt(turn: int, env: Any) -> str | None:
        if turn != change.after_turn:
            return None
        env.change_requirements(change.changes)
        return change.message

    return interrupt
