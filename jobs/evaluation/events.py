"""Every evaluated episode as canonical events (schemas/agent_event.py), so evaluations are
queryable like any trace and runs of a real model behind an endpoint are Phase-1 collection.

The producer is the policy and its checkpoint (`attributes.producer`); the run id is a hash of
the evaluation, task, trial and memory flag.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson

SOURCE = "tracelake-eval"
SYSTEM = ("SystemAgent", "agent", "1.4.0")
META_EVENTS = {
    "create_component": "component_created",
    "evolve_component": "component_evolved",
    "recall_memory": "memory_consulted",
}
LEVEL_NAMES = {1: "single_domain", 2: "cross_domain", 3: "novel"}


def run_id_of(eval_id: str, record: dict[str, Any]) -> str:
    key = f"{eval_id}|{record['task_id']}|{record['trial']}|{int(record['memory'])}"
    return "evl-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class _Emitter:
    def __init__(self, run_id: str, start: datetime, attributes: dict[str, str]) -> None:
        self.run_id, self.now, self.attributes = run_id, start, attributes
        self.events: list[dict[str, Any]] = []

    def emit(
        self,
        event_type: str,
        component: tuple[str, str, str] | None = None,
        advance_ms: float = 1.0,
        parent: str | None = None,
        attributes: dict[str, str] | None = None,
        **fields: Any,
    ) -> str:
        self.now += timedelta(milliseconds=max(1.0, float(advance_ms or 0.0)))
        seq = len(self.events)
        event_id = hashlib.sha256(f"{self.run_id}|{seq}".encode()).hexdigest()[:32]
        event: dict[str, Any] = {
            "event_id": event_id,
            "run_id": self.run_id,
            "seq": seq,
            "parent_event_id": parent,
            "ts": self.now.isoformat().replace("+00:00", "Z"),
            "source": SOURCE,
            "dialect": "canonical",
            "event_type": event_type,
            "mode": "SIMULATION",
            "attributes": {**self.attributes, **(attributes or {})},
        }
        if component:
            event["component_name"], event["component_kind"], event["component_version"] = component
        for key, value in fields.items():
            if value is None:
                continue
            event[key] = _text(value) if key in ("input", "output") else value
        self.events.append(event)
        return event_id


def episode_events(
    record: dict[str, Any],
    *,
    eval_id: str,
    policy: str,
    checkpoint: str,
    start: datetime,
    component_kinds: dict[str, tuple[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """The events of one episode record (runner.record_of)."""
    kinds = component_kinds or {}
    run_id = run_id_of(eval_id, record)
    attrs = {
        "producer": f"{policy}@{checkpoint}",
        "eval_id": eval_id,
        "eval_policy": policy,
        "eval_checkpoint": checkpoint,
        "task_id": record["task_id"],
        "trial": str(record["trial"]),
        "memory": str(record["memory"]).lower(),
    }
    em = _Emitter(run_id, start, attrs)
    level = {
        "goal": record["messages"][1]["content"],
        "scenario": record["family"],
        "scenario_level": LEVEL_NAMES[record["level"]],
    }
    em.emit(
        "run_started",
        SYSTEM,
        action="start_run",
        status="ok",
        input={"task_id": record["task_id"], "seed": record["seed"], "fault": record["fault"]},
        **level,
    )
    em.emit("goal_received", SYSTEM, action="receive_goal", status="ok", **level)
    calls = iter(record["calls"])
    parent = None
    for message in record["messages"][2:]:
        role = message["role"]
        if role == "user":
            em.emit(
                "agent_message",
                SYSTEM,
                action="requirement_changed",
                status="ok",
                output=message["content"],
            )
        elif role == "assistant":
            parent = None
            if message.get("content") and not message.get("tool_calls"):
                em.emit(
                    "agent_message",
                    SYSTEM,
                    action="final_answer",
                    status="ok",
                    output=message["content"],
                )
        elif role == "tool":
            call = next(calls, None)
            if call is None:
                continue
            name = call["name"]
            kind, version = kinds.get(name) or ("tool", "")
            comp = (name, kind, version) if version else None
            common = {
                "status": "ok" if call["ok"] else "error",
                "error": call.get("error"),
                "error_type": call.get("error_type"),
                "cost_usd": call.get("cost_usd"),
            }
            if name in META_EVENTS:
                em.emit(
                    META_EVENTS[name],
                    SYSTEM,
                    action=name,
                    input=call["arguments"],
                    output=message["content"],
                    **common,
                )
                continue
            parent = em.emit("tool_call", comp, action=name, input=call["arguments"])
            em.emit(
                "tool_result",
                comp,
                parent=parent,
                action=name,
                output=None if not call["ok"] else message["content"],
                **common,
            )
    for text in record["parse_errors"]:
        em.emit(
            "error",
            SYSTEM,
            action="parse_tool_call",
            status="error",
            error=text,
            error_type="tool_call_parse_error",
        )
    for text in record["learnings"]:
        em.emit("learning_recorded", SYSTEM, action="record_learning", status="ok", output=text)
    em.emit(
        "run_completed" if record["success"] else "run_failed",
        SYSTEM,
        action="finish_run",
        status="ok" if record["success"] else "error",
        output={
            "answer": record["answer"],
            "success": record["success"],
            "unmet": record["unmet"],
            "violations": record["violations"],
            "ended_by": record["ended_by"],
        },
        **level,
    )
    return em.events
