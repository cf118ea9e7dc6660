"""Verification of a synthetic run, APIGen style: format, execution (the independent
replayer), semantic. Each check returns None or the reason it fails."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ...schemas.agent_event import AgentEvent
from ..environment.world import slug
from .replay import replay

CHECKS = ("format", "execution", "semantic")


def check_format(events: list[dict[str, Any]]) -> str | None:
    if not events:
        return "no events"
    seen: set[str] = set()
    last_ts: datetime | None = None
    for i, e in enumerate(events):
        try:
            event = AgentEvent.model_validate(e)
        except ValidationError as exc:
            first = exc.errors()[0]
            return f"event {i}: {'.'.join(map(str, first['loc']))}: {first['msg']}"
        if event.seq != i:
            return f"event {i}: seq is {event.seq}, expected {i}"
        if event.event_id in seen:
            return f"event {i}: duplicate event_id {event.event_id}"
        if event.parent_event_id is not None and event.parent_event_id not in seen:
            return f"event {i}: parent {event.parent_event_id} is not an earlier event"
        if last_ts is not None and event.ts < last_ts:
            return f"event {i}: ts goes backwards"
        seen.add(event.event_id)
        last_ts = event.ts
    if events[0]["event_type"] != "run_started":
        return "the first event is not run_started"
    if events[-1]["event_type"] not in ("run_completed", "run_failed"):
        return "the last event is not run_completed or run_failed"
    return None


def check_semantic(events: list[dict[str, Any]]) -> str | None:
    head = json.loads(events[0]["input"])
    task = head["task"]
    goal = events[0].get("goal") or ""
    for key, value in task.get("slots", {}).items():
        text = "+".join(value) if isinstance(value, list) else str(value)
        # a page's URL names its topic by slug (a free-form goal may name it only so)
        named = text.lower() in goal.lower() or slug(text) in slug(goal)
        if key not in ("url", "file") and not named:
            return f"slot {key}={text!r} is not in the goal"
    calls = [e for e in events if e["event_type"] == "tool_call"]
    completed = events[-1]["event_type"] == "run_completed"
    call_text = " ".join(slug(e.get("input") or "") for e in calls)
    for topic in task["success"].get("topics", ()) if completed else ():
        if slug(topic) not in call_text:  # a run that stopped early may not get that far
            return f"goal slot {topic!r} reaches no tool call"
    selected = {e["component_name"] for e in events if e["event_type"] == "component_selected"}
    created = {
        e["component_name"]
        for e in events
        if e["event_type"] == "component_created" and e.get("status") == "ok"
    }
    for e in calls:
        if e.get("component_name") and e["component_name"] not in selected | created:
            return f"seq {e['seq']} uses {e['component_name']}, which the plan never selected"
    end = json.loads(events[-1].get("output") or "{}")
    if completed:
        writes = [e for e in calls if e.get("action") == "FileWriterTool"]
        if not writes or json.loads(writes[-1]["input"]).get("path") != task["success"]["file"]:
            return "the run completes without writing the file the goal asks for"
        if not end.get("answer"):
            return "the run completes without an answer"
    return None


def verify(events: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(check, reason) of the first failing check, or None when the run passes all three."""
    for name, check in (
        ("format", check_format),
        ("execution", replay),
        ("semantic", check_semantic),
    ):
        reason = check(events)
        if reason:
            return name, reason
    return None
