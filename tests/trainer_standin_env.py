"""A small deterministic environment with the interface of tracelake.jobs.environment.

Stands in for the real one (built elsewhere) so the episode loop and GRPO are tested here:
one tool per task, success when the expert's call was made with the right arguments and the
answer names the target, a violation for calling an unknown tool.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from trainer_fixture import TOOLS, TOPICS


@dataclass(frozen=True)
class Task:
    task_id: str
    level: int
    family: str
    goal: str
    tools: list[dict]
    max_steps: int
    budget_usd: float
    expert_plan: list[dict]


@dataclass(frozen=True)
class Observation:
    ok: bool
    content: str
    error: str | None
    cost_usd: float
    latency_ms: float


@dataclass(frozen=True)
class EpisodeOutcome:
    success: bool
    steps: int
    cost_usd: float
    violations: list[str]
    faults_injected: int
    faults_recovered: int
    reward: dict[str, float]


def make_training_tasks(n: int, seed: int, levels: Iterable[int] = (1, 2, 3)) -> list[Task]:
    rng, levels = random.Random(seed), list(levels)
    tasks = []
    for i in range(n):
        topic = rng.choice(TOPICS)
        tasks.append(
            Task(
                task_id=f"t{i}",
                level=levels[i % len(levels)],
                family="policy_lookup",
                goal=f"Find the policy about {topic}.",
                tools=[TOOLS[1]],
                max_steps=3,
                budget_usd=1.0,
                expert_plan=[{"name": "search_docs", "arguments": {"query": topic}}],
            )
        )
    return tasks


@dataclass
class Environment:
    task: Task
    seed: int
    memory: list[dict] | None = None
    calls: list[tuple[str, dict]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    done: bool = False

    @property
    def tools(self) -> list[dict[str, Any]]:
        return self.task.tools

    def call(self, name: str, arguments: dict) -> Observation:
        self.calls.append((name, arguments))
        if len(self.calls) >= self.task.max_steps:
            self.done = True
        if name != "search_docs":
            self.violations.append(f"unknown_tool:{name}")
            return Observation(False, "", f"no tool {name}", 0.0, 1.0)
        topic = str(arguments.get("query", ""))
        return Observation(True, f"policy {topic}: allowed within 30 days", None, 0.01, 5.0)

    def finish(self, answer: str) -> EpisodeOutcome:
        self.done = True
        plan = self.task.expert_plan[0]
        made = (plan["name"], plan["arguments"]) in self.calls
        success = made and bool(answer)
        steps = len(self.calls)
        return EpisodeOutcome(
            success=success,
            steps=steps,
            cost_usd=0.01 * steps,
            violations=list(self.violations),
            faults_injected=0,
            faults_recovered=0,
            reward={
                "completion": 1.0 if success else 0.0,
                "efficiency": 1.0 / (1 + steps),
                "constraints": -float(len(self.violations)),
            },
        )
