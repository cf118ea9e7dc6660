"""The executable environment GRPO rolls out in, as a Protocol.

The real implementation is `tracelake.jobs.environment` (pure Python, deterministic per seed);
the trainer depends only on these names so that it can be tested with any stand-in and never
imports the lake.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class TaskLike(Protocol):
    task_id: str
    level: int
    family: str
    goal: str
    tools: list[dict[str, Any]]
    max_steps: int
    budget_usd: float
    expert_plan: list[dict[str, Any]]


class ObservationLike(Protocol):
    ok: bool
    content: str
    error: str | None
    cost_usd: float
    latency_ms: float


class EpisodeOutcomeLike(Protocol):
    success: bool
    steps: int
    cost_usd: float
    violations: list[str]
    faults_injected: int
    faults_recovered: int
    reward: dict[str, float]


class EnvironmentLike(Protocol):
    tools: list[dict[str, Any]]
    done: bool

    def call(self, name: str, arguments: dict[str, Any]) -> ObservationLike: ...

    def finish(self, answer: str) -> EpisodeOutcomeLike: ...


class EnvironmentFactory(Protocol):
    """`Environment(task, seed, memory=None)`: the class itself satisfies this."""

    def __call__(
        self, task: Any, seed: int, memory: list[dict[str, Any]] | None = None
    ) -> EnvironmentLike: ...


class TaskSource(Protocol):
    """`make_training_tasks(n, seed, levels)`: never draws from the held-out set."""

    def __call__(self, n: int, seed: int, levels: Iterable[int] = (1, 2, 3)) -> list[Any]: ...
