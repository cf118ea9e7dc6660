"""The replayer: re-derives every observation of a synthetic run from its events and the
component specs alone, in a fresh environment. It shares no state with the generator: it
reads the task, the seeds and the fitted figures the generator ran with (the catalogue's specs
otherwise) from the run_started event, replays the calls in event order and reports the first
observation that differs."""

from __future__ import annotations

import json
from typing import Any

from ..environment.env import Environment
from ..environment.fitting import apply_figures
from ..environment.tasks import TaskError, task_from_record

_META = {
    "component_created": "create_component",
    "component_evolved": "evolve_component",
    "memory_consulted": "recall_memory",
}
_COMPARED = ("status", "output", "error_type", "latency_ms", "cost_usd")


def _load(text: Any) -> Any:
    if text is None or isinstance(text, dict):
        return text
    return json.loads(text)


def replay(events: list[dict[str, Any]]) -> str | None:
    """None when every observation re-derives; else what differs, in words."""
    ordered = sorted(events, key=lambda e: e["seq"])
    started = next((e for e in ordered if e["event_type"] == "run_started"), None)
    if started is None:
        return "no run_started event"
    head = _load(started.get("input")) or {}
    try:
        task = task_from_record(head["task"], started["run_id"])
    except (KeyError, TaskError) as exc:
        return f"run_started carries no usable task ({exc})"
    inject = {int(k): v for k, v in (head.get("inject_faults") or {}).items()}
    try:  # the figures the generator ran with (fitted from real runs), not today's fit
        specs = apply_figures((head.get("fit") or {}).get("figures") or {})
    except (KeyError, ValueError) as exc:
        return f"run_started carries unusable fitted figures ({exc})"
    env = Environment(task, int(head["env_seed"]), inject_faults=inject, specs=specs)
    by_id = {e["event_id"]: e for e in ordered}
    results = {e["parent_event_id"]: e for e in ordered if e["event_type"] == "tool_result"}
    for e in ordered:
        kind = e["event_type"]
        if kind == "tool_call":
            observed = results.get(e["event_id"])
            if observed is None:
                return f"seq {e['seq']}: tool_call without a tool_result"
            name = e["action"]
        elif kind in _META and e.get("action") in _META.values():
            observed, name = e, e["action"]
        else:
            continue
        obs = env.call(name, _load(e.get("input")) or {})
        expected = {
            "status": "ok" if obs.ok else "error",
            "output": obs.content or None,
            "error_type": obs.error_type,
            "latency_ms": obs.latency_ms,
            "cost_usd": obs.cost_usd,
        }
        for key in _COMPARED:
            if observed.get(key) != expected[key]:
                return (
                    f"seq {observed['seq']} ({name}): {key} is {observed.get(key)!r}, "
                    f"the specs give {expected[key]!r}"
                )
    terminal = ordered[-1]
    end = _load(terminal.get("output")) or {}
    outcome = env.finish(end.get("answer", ""))
    if outcome.success != (terminal["event_type"] == "run_completed"):
        return (
            f"the run ends {terminal['event_type']} but the final state says "
            f"success={outcome.success}"
        )
    del by_id
    return None
