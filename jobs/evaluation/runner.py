"""Runs a policy over the held-out tasks: every case (task + injected fault + changed
requirement) for k trials, plus one family sequence per level with memory of past runs; returns
episode records and the metrics per level and overall.

Deterministic for (policy, options): environment seeds come from the evaluation seed, the task
and the trial, and every policy draws from seeds of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...trainer.episodes import Episode, EpisodeRun, run_episode, run_episodes_batched
from ..environment.env import Environment
from ..environment.holdout import holdout
from ..environment.tasks import LEVELS, TASKS_DIR, Task, load_tasks
from . import constitution, metrics
from .policies import EvalPolicy
from .prompts import PROMPT_MODES, system_prompt
from .scenarios import Case, cases_for, interrupt_for, trial_seed

MEMORY_SEQUENCE = 6  # tasks of one family per level played in order with memory


class EvalInputError(ValueError):
    """Evaluation options that cannot be used; the message says which and why."""


@dataclass
class EvalOptions:
    levels: tuple[int, ...] = LEVELS
    trials: int = 1
    prompt: str = "goal"
    seed: int = 0
    chance_faults: bool = True  # the components' own error rates (besides injected faults)
    faults: bool = True  # inject faults on chosen tasks (scenarios.py)
    changes: bool = True  # change requirements mid-episode on chosen L3 tasks
    memory_sequence: int = MEMORY_SEQUENCE
    tasks_per_level: int | None = None  # the first n of each level (smoke runs)
    extra_turns: int = 4  # turns beyond the task's step limit (the limit itself ends episodes)
    batch_size: int = 16  # episodes per generation for batched (model) policies
    task_dir: str | None = None

    def validate(self) -> None:
        bad = [lv for lv in self.levels if lv not in LEVELS]
        if bad or not self.levels:
            raise EvalInputError(f"--levels {bad or '(none)'}: choose from 1, 2, 3")
        if self.trials < 1:
            raise EvalInputError("--trials must be at least 1")
        if self.prompt not in PROMPT_MODES:
            raise EvalInputError(f"--prompt {self.prompt!r}: use {' or '.join(PROMPT_MODES)}")


@dataclass
class EvalRun:
    eval_id: str
    policy: str
    checkpoint: str
    options: dict[str, Any]
    records: list[dict[str, Any]]
    summary: dict[str, dict[str, Any]]
    started_at: datetime
    ended_at: datetime
    manifest: str = "-"
    taskset: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def expert_cost(task: Task) -> float:
    """The task's budget is three times the expert plan's cost (docs/environment.md)."""
    return task.budget_usd / 3.0


def record_of(
    case: Case, trial: int, seed: int, env: Environment, episode: Episode, memory: bool
) -> dict[str, Any]:
    task, out = case.task, episode.outcome
    gap = task.capability_gap or {}
    created = [env.registry.spec(k.split("@")[0]) for k in env.created]
    made_gap = any(s is not None and gap.get("capability") in s.capabilities for s in created)
    answer = ""
    if episode.ended_by == "answer":
        answer = str(episode.messages[-1].get("content") or "")
    return {
        "task_id": task.task_id,
        "level": task.level,
        "family": task.family,
        "trial": trial,
        "seed": seed,
        "memory": memory,
        "success": bool(out.success),
        "steps": int(out.steps),
        "turns": episode.turns,
        "cost_usd": float(out.cost_usd),
        "ended_by": episode.ended_by,
        "calls": [{k: v for k, v in c.items() if k != "content"} for c in episode.calls],
        "parse_errors": list(episode.parse_errors),
        "violations": list(out.violations),
        "unmet": list(getattr(out, "unmet", [])),
        "env_faults_injected": int(out.faults_injected),
        "env_faults_recovered": int(out.faults_recovered),
        "fault": asdict(case.fault) if case.fault else None,
        "change": case.change.changes if case.change else None,
        "expert_calls": len(task.expert_plan),
        "expert_first": task.expert_plan[0]["name"] if task.expert_plan else None,
        "expert_cost_usd": expert_cost(task),
        "expert_components": sorted({s["name"] for s in task.expert_plan}),
        "heldout_component": gap.get("component") in holdout().component_names,
        "gap_capability": gap.get("capability"),
        "created": list(env.created),
        "created_gap_component": made_gap,
        "broken_rules": constitution.broken_rules(list(out.violations), answer, out.success),
        "answer": answer,
        "learnings": list(getattr(out, "learnings", [])),
        "messages": episode.messages,
        "tools": env.tools,
        "components": {
            n: [s.kind, s.version]
            for n in env.registry.active
            if (s := env.registry.spec(n)) is not None
        },
    }


def _env(case: Case, seed: int, options: EvalOptions, memory: list | None = None) -> Environment:
    inject = case.fault.injections() if case.fault else None
    return Environment(
        case.task, seed, memory, inject_faults=inject, random_faults=options.chance_faults
    )


def _run(
    policy: EvalPolicy, case: Case, seed: int, options: EvalOptions, memory: list | None
) -> tuple[Environment, Episode]:
    env = _env(case, seed, options, memory)
    task = case.task
    episode = run_episode(
        policy.start(task, seed),
        env,
        task,
        task.max_steps + options.extra_turns,
        system=system_prompt(task, options.prompt),
        interrupt=interrupt_for(case.change),
    )
    return env, episode


def _run_batched(
    policy: EvalPolicy, cases: list[Case], trial: int, options: EvalOptions
) -> list[tuple[Case, int, Environment, Episode]]:
    assert policy.batch is not None
    out = []
    for i in range(0, len(cases), options.batch_size):
        chunk = cases[i : i + options.batch_size]
        seeds = [trial_seed(options.seed, c.task.task_id, trial) for c in chunk]
        envs = [_env(c, s, options) for c, s in zip(chunk, seeds, strict=True)]
        runs = [
            EpisodeRun(
                env,
                c.task,
                c.task.max_steps + options.extra_turns,
                system=system_prompt(c.task, options.prompt),
                interrupt=interrupt_for(c.change),
            )
            for c, env in zip(chunk, envs, strict=True)
        ]
        episodes = run_episodes_batched(policy.batch, runs)
        out += list(zip(chunk, seeds, envs, episodes, strict=True))
    return out


def select_tasks(options: EvalOptions) -> list[Task]:
    directory = Path(options.task_dir) if options.task_dir else TASKS_DIR
    tasks = load_tasks(options.levels, directory)
    if options.tasks_per_level is not None:
        per: dict[int, int] = {}
        kept = []
        for t in tasks:
            per[t.level] = per.get(t.level, 0) + 1
            if per[t.level] <= options.tasks_per_level:
                kept.append(t)
        tasks = kept
    return tasks


def evaluate(
    policy: EvalPolicy,
    options: EvalOptions,
    tick: Callable[[int], None] | None = None,
) -> EvalRun:
    """Every case for `options.trials` trials, then the memory sequences; `tick(n)` reports
    progress in episodes."""
    options.validate()
    started = datetime.now(UTC)
    tasks = select_tasks(options)
    cases = cases_for(tasks, options.faults, options.changes)
    records: list[dict[str, Any]] = []
    for trial in range(options.trials):
        if policy.batch is not None:
            for case, seed, env, episode in _run_batched(policy, cases, trial, options):
                records.append(record_of(case, trial, seed, env, episode, False))
            if tick:
                tick(len(cases))
            continue
        for case in cases:
            seed = trial_seed(options.seed, case.task.task_id, trial)
            env, episode = _run(policy, case, seed, options, None)
            records.append(record_of(case, trial, seed, env, episode, False))
            if tick:
                tick(1)
    for level in options.levels:
        level_cases = [c for c in cases if c.task.level == level]
        if not level_cases or options.memory_sequence < 1:
            continue
        family = level_cases[0].task.family
        memory: list[dict[str, Any]] = []
        for case in [c for c in level_cases if c.task.family == family][: options.memory_sequence]:
            seed = trial_seed(options.seed, case.task.task_id, 0)
            env, episode = _run(policy, case, seed, options, memory)
            records.append(record_of(case, 0, seed, env, episode, True))
            memory.append(env.memory_record())
            if tick:
                tick(1)
    summary = summarise(records, options)
    ended = datetime.now(UTC)
    key = json.dumps([policy.name, policy.checkpoint, asdict(options), started.isoformat()])
    return EvalRun(
        eval_id="eval-" + hashlib.sha256(key.encode()).hexdigest()[:16],
        policy=policy.name,
        checkpoint=policy.checkpoint,
        options=asdict(options),
        records=records,
        summary=summary,
        started_at=started,
        ended_at=ended,
        taskset=str(Path(options.task_dir).name if options.task_dir else TASKS_DIR.name),
    )


def summarise(records: list[dict[str, Any]], options: EvalOptions) -> dict[str, dict[str, Any]]:
    out = {"all": metrics.summary(records, options.trials)}
    out["all"].update(metrics.transfer([r for r in records if not r.get("memory")]))
    for level in options.levels:
        level_records = [r for r in records if r["level"] == level]
        if level_records:
            out[f"L{level}"] = metrics.summary(level_records, options.trials)
    return out


def episodes_planned(options: EvalOptions) -> int:
    n = len(select_tasks(options))
    return n * options.trials + options.memory_sequence * len(options.levels)
