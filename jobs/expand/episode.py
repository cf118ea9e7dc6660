"""Re-execution: a candidate becomes a task, its expert plan (as the transforms changed it) runs
step by step in the environment, and what really happened is recorded as events in the
canonical event shape. Observations, errors, latencies, tokens, cost and the outcome are the
environment's, never copied from the seed."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ..environment.env import Environment, EpisodeOutcome
from ..environment.fitting import EnvironmentFit
from ..environment.taskgen import build_task, training_pools
from ..environment.tasks import Task, task_from_record
from .transforms import PARAPHRASES, SECRET_PLACEHOLDER, Candidate, error_types_of

EXPANDER = "tracelake-expander"
EXPANDER_VERSION = 1
PRODUCER = f"{EXPANDER}/{EXPANDER_VERSION}"
META_EVENTS = {
    "create_component": "component_created",
    "evolve_component": "component_evolved",
    "recall_memory": "memory_consulted",
}
_POOLS = training_pools()
DEFAULT_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@dataclass
class Episode:
    run_id: str
    task: Task
    plan: list[dict[str, Any]]
    env_seed: int
    inject: dict[int, str]
    events: list[dict[str, Any]]
    outcome: EpisodeOutcome


def synthetic_run_id(c: Candidate, gen_seed: int, index: int) -> str:
    key = json.dumps([c.seed_run_id, gen_seed, index, c.chain], sort_keys=True, default=str)
    return "syn1-" + hashlib.sha256(key.encode()).hexdigest()[:20]


def build(
    c: Candidate, run_id: str, rewrite_goal: Callable[[str], str | None] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """The task record, the plan to execute, and the 1-based step of an injected fault (0).
    rewrite_goal: the LLM paraphrase (None when it has no usable answer: the template is used)."""
    record = build_task(
        _POOLS, c.level, c.family, random.Random(run_id), run_id, c.fixed, c.variant
    )
    plan = [dict(step) for step in record["expert_plan"]]
    if c.paraphrase is not None:
        rewritten = rewrite_goal(record["goal"]) if rewrite_goal else None
        record["goal"] = rewritten or PARAPHRASES[c.paraphrase](record["goal"])
    if c.violation == "secret_sent":
        first = next(i for i, s in enumerate(plan) if s["name"] not in ("recall_memory",))
        args = dict(plan[first]["arguments"])
        text_key = next((k for k, v in args.items() if isinstance(v, str) and k != "url"), None)
        if text_key is None:
            plan.insert(
                first,
                {"name": "SearchTool", "arguments": {"query": f"credentials {SECRET_PLACEHOLDER}"}},
            )
        else:
            args[text_key] = f"{args[text_key]} {SECRET_PLACEHOLDER}"
            plan[first] = {"name": plan[first]["name"], "arguments": args}
    elif c.violation == "write_outside_workspace":
        last = plan[-1]
        plan[-1] = {
            "name": last["name"],
            "arguments": {**last["arguments"], "path": "../" + last["arguments"]["path"]},
        }
    elif c.violation == "unverified_final":
        plan = [s for s in plan if s["name"] != "ReviewAgent"]
    fault_step = 0
    if c.fault:
        calls = [
            i
            for i, s in enumerate(plan)
            if s["name"] not in ("recall_memory", "create_component", "evolve_component")
        ]
        index = calls[int(c.fault["pick"] * len(calls))]
        fault_step = index + 1
    record["expert_plan"] = plan
    return record, plan, fault_step


def execute(
    c: Candidate,
    run_id: str,
    env_seed: int,
    start: datetime | None = None,
    rewrite_goal: Callable[[str], str | None] | None = None,
    fit: EnvironmentFit | None = None,
) -> Episode:
    """fit: the component figures fitted from real runs (None: the catalogue's); the run
    records the figures of its components, so the replayer uses the same specs."""
    fit = fit or EnvironmentFit()
    record, plan, fault_step = build(c, run_id, rewrite_goal)
    task = task_from_record(record, run_id)
    if c.violation == "over_budget":
        task = Task(**{**task.__dict__, "budget_usd": 0.002})
        record["budget_usd"] = 0.002
    inject: dict[int, str] = {}
    if fault_step:
        inject[fault_step] = _fault_type(
            task, plan[fault_step - 1]["name"], c.fault["pick"] if c.fault else 0.0
        )
    env = Environment(task, env_seed, inject_faults=inject, specs=fit.overrides)
    rec = _Recorder(run_id, start or DEFAULT_START)
    rec.start(task, record, env_seed, inject, c, fit)
    answer = f"wrote {task.success.get('file')}"
    i = 0
    while i < len(plan):
        step = plan[i]
        obs = rec.call(env, step["name"], step["arguments"], i + 1)
        if not obs.ok:
            recover = bool(c.fault and c.fault["recover"] and i + 1 == fault_step)
            if recover or _transient(obs.error_type):
                rec.recovery(step["name"], obs.error_type)
                obs = rec.call(env, step["name"], step["arguments"], i + 1)
            if not obs.ok:
                answer = f"failed at step {i + 1} ({step['name']}): {obs.error}"
                break
        i += 1
    outcome = env.finish(answer)
    rec.finish(env, outcome, answer)
    return Episode(run_id, task, plan, env_seed, inject, rec.events, outcome)


def _transient(error_type: str | None) -> bool:
    return error_type in ("timeout", "http_403", "bad_output")


def _fault_type(task: Task, tool: str, pick: float) -> str:
    key = next((k for k in task.components if k.startswith(f"{tool}@")), "")
    types = error_types_of(key)
    return types[int(pick * 1000) % len(types)]


class _Recorder:
    """Builds the canonical events of one synthetic run."""

    def __init__(self, run_id: str, start: datetime) -> None:
        self.run_id = run_id
        self.now = start
        self.events: list[dict[str, Any]] = []

    def emit(
        self,
        event_type: str,
        component: tuple[str, str, str | None] | None,
        advance_ms: float = 1.0,
        parent: str | None = None,
        **fields: Any,
    ) -> str:
        self.now += timedelta(milliseconds=max(1.0, advance_ms))
        seq = len(self.events)
        event_id = hashlib.sha256(f"{self.run_id}|{seq}".encode()).hexdigest()[:32]
        event: dict[str, Any] = {
            "event_id": event_id,
            "run_id": self.run_id,
            "seq": seq,
            "parent_event_id": parent,
            "ts": self.now.isoformat().replace("+00:00", "Z"),
            "source": EXPANDER,
            "dialect": "canonical",
            "event_type": event_type,
            "mode": "SIMULATION",
            "attributes": {"synthetic": "true", "producer": PRODUCER},
        }
        if component:
            event["component_name"], event["component_kind"], event["component_version"] = component
        for key, value in fields.items():
            if value is None:
                continue
            if key in ("input", "output", "state_change") and not isinstance(value, str):
                value = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
            if key == "attributes":
                event["attributes"] = {**event["attributes"], **value}
                continue
            event[key] = value
        self.events.append(event)
        return event_id

    def start(
        self,
        task: Task,
        record: dict,
        env_seed: int,
        inject: dict[int, str],
        c: Candidate,
        fit: EnvironmentFit,
    ) -> None:
        system = ("SystemAgent", "agent", "1.4.0")
        level = {1: "single_domain", 2: "cross_domain", 3: "novel"}[task.level]
        run_level = {"goal": task.goal, "scenario": task.family, "scenario_level": level}
        self.emit(
            "run_started",
            system,
            action="start_run",
            status="ok",
            **run_level,
            input={
                "goal": task.goal,
                "task": record,
                "env_seed": env_seed,
                "inject_faults": {str(k): v for k, v in inject.items()},
                "fit": {
                    "fingerprint": fit.fingerprint,
                    "figures": fit.for_components(task.components),
                },
            },
            attributes={
                "seed_run_id": c.seed_run_id,
                "transforms": ",".join(s["transform"] for s in c.chain),
                "fit_fingerprint": fit.fingerprint,
            },
        )
        self.emit(
            "goal_received",
            system,
            action="receive_goal",
            status="ok",
            **run_level,
            input={"goal": task.goal},
        )
        self.plan_id = self.emit(
            "plan_created",
            system,
            action="create_plan",
            status="ok",
            output={
                "steps": [
                    {"step": i + 1, "component": s["name"], "arguments": s["arguments"]}
                    for i, s in enumerate(record["expert_plan"])
                ]
            },
        )
        seen: list[str] = []
        for key in task.components:
            name, version = key.split("@")
            if name in seen:
                continue
            seen.append(name)
            from ..environment.specs import builtin_specs

            self.emit(
                "component_selected",
                (name, builtin_specs()[key].kind, version),
                parent=self.plan_id,
                action="select_component",
                status="ok",
            )

    def call(self, env: Environment, name: str, args: dict, step: int):
        spec = env.registry.spec(name)
        comp = (name, spec.kind, spec.version) if spec else None
        obs = env.call(name, args)
        common = {
            "status": "ok" if obs.ok else "error",
            "error": obs.error,
            "error_type": obs.error_type,
            "latency_ms": obs.latency_ms,
            "cost_usd": obs.cost_usd,
            "tokens_in": obs.tokens_in or None,
            "tokens_out": obs.tokens_out or None,
            "attributes": {"plan_step": str(step)},
        }
        if name in META_EVENTS:
            after = env.registry.spec(args.get("name", "")) if name == "evolve_component" else None
            created = (
                env.registry.spec(args.get("spec", {}).get("name", ""))
                if (name == "create_component" and isinstance(args.get("spec"), dict))
                else None
            )
            meta = created or after
            comp = (meta.name, meta.kind, meta.version) if meta and obs.ok else comp
            self.emit(
                META_EVENTS[name],
                comp,
                advance_ms=obs.latency_ms,
                parent=self.plan_id,
                action=name,
                input=args,
                output=obs.content or None,
                **common,
            )
            return obs
        call_id = self.emit(
            "tool_call",
            comp,
            parent=self.plan_id,
            action=name,
            input=args,
            attributes={"plan_step": str(step)},
        )
        self.emit(
            "tool_result",
            comp,
            advance_ms=obs.latency_ms,
            parent=call_id,
            action=name,
            output=obs.content or None,
            **common,
        )
        return obs

    def recovery(self, name: str, error_type: str | None) -> None:
        self.emit(
            "recovery",
            ("SystemAgent", "agent", "1.4.0"),
            action="retry",
            status="ok",
            reasoning=f"{name} failed with {error_type}; retrying the same call",
        )

    def finish(self, env: Environment, outcome: EpisodeOutcome, answer: str) -> None:
        system = ("SystemAgent", "agent", "1.4.0")
        for text in outcome.learnings:
            self.emit(
                "learning_recorded", system, action="record_learning", status="ok", output=text
            )
        self.emit(
            "run_completed" if outcome.success else "run_failed",
            system,
            action="finish_run",
            status="ok" if outcome.success else "error",
            output={
                "answer": answer,
                "success": outcome.success,
                "unmet": outcome.unmet,
                "violations": outcome.violations,
                "reward": outcome.reward,
            },
            cost_usd=None,
        )
