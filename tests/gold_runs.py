"""Hand-made runs for the gold tests: canonical event dicts (what ingest accepts), one good run
with a failed call, its recovery and a delegation, and one run per rejection reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
GOAL = "Summarise the report at https://example.org/report and save it"
URL = "https://example.org/report"


def _events(run_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for seq, fields in enumerate(rows):
        event = {
            "event_id": f"{run_id}-{seq:03d}",
            "run_id": run_id,
            "seq": seq,
            "ts": (START + timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "source": "gold-test",
        }
        event.update({k: v for k, v in fields.items() if v is not None})
        if "parent" in event:
            event["parent_event_id"] = f"{run_id}-{event.pop('parent'):03d}"
        out.append(event)
    return out


def _j(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


SYSTEM = {"component_name": "SystemAgent", "component_kind": "agent", "component_version": "1.4.0"}


def recovery_run(run_id: str = "gold-recovery") -> list[dict[str, Any]]:
    """Fetch fails (403), the agent falls back to the archive, delegates the summary (the
    delegate searches once itself), writes the file, learns, completes."""
    fetch = {
        "component_name": "WebFetcherTool",
        "component_kind": "tool",
        "component_version": "1.1",
    }
    archive = {
        "component_name": "ArchiveFetcherTool",
        "component_kind": "tool",
        "component_version": "1.0",
    }
    summ = {
        "component_name": "SummarizationAgent",
        "component_kind": "agent",
        "component_version": "1.0.0",
    }
    search = {"component_name": "SearchTool", "component_kind": "tool", "component_version": "1.0"}
    write = {
        "component_name": "FileWriterTool",
        "component_kind": "tool",
        "component_version": "1.0",
    }
    return _events(
        run_id,
        [
            {
                "event_type": "run_started",
                **SYSTEM,
                "goal": GOAL,
                "scenario": "web_research_summary",
                "scenario_level": "single_domain",
                "input": _j({"goal": GOAL, "constraints": {"max_cost_per_task": 1.0}}),
                "status": "ok",
            },
            {
                "event_type": "plan_created",
                **SYSTEM,
                "reasoning": "Fetch the page, summarise it, write the summary.",
                "output": _j({"steps": 3}),
                "status": "ok",
            },
            {
                "event_type": "component_selected",
                **fetch,
                "reasoning": "WebFetcherTool reads pages.",
                "status": "ok",
            },
            *(
                {"event_type": "component_selected", **component, "status": "ok"}
                for component in (archive, summ, write)
            ),
            {"event_type": "tool_call", **fetch, "action": "fetch", "input": _j({"url": URL})},
            {
                "event_type": "tool_result",
                **fetch,
                "parent": 6,
                "status": "error",
                "error_type": "http_403",
                "error": "HTTP 403 Forbidden",
                "cost_usd": 0.001,
            },
            {
                "event_type": "error",
                **fetch,
                "parent": 7,
                "status": "error",
                "error_type": "http_403",
                "error": "HTTP 403 Forbidden",
            },
            {
                "event_type": "recovery",
                **SYSTEM,
                "reasoning": "The site refuses fetches; read the archived copy instead.",
                "status": "ok",
            },
            {"event_type": "tool_call", **archive, "action": "fetch", "input": _j({"url": URL})},
            {
                "event_type": "tool_result",
                **archive,
                "parent": 10,
                "status": "ok",
                "output": _j({"doc": "doc-1"}),
                "cost_usd": 0.002,
            },
            {
                "event_type": "delegation",
                **summ,
                "action": "delegate:summarize",
                "input": _j({"inputs": ["doc-1"]}),
            },
            {
                "event_type": "tool_call",
                **search,
                "parent": 12,
                "action": "search",
                "input": _j({"query": "report context"}),
            },
            {
                "event_type": "tool_result",
                **search,
                "parent": 13,
                "status": "ok",
                "output": _j({"urls": []}),
            },
            {
                "event_type": "agent_message",
                **summ,
                "parent": 12,
                "status": "ok",
                "output": _j({"artifact": "summary-1"}),
                "cost_usd": 0.01,
            },
            {
                "event_type": "state_changed",
                **SYSTEM,
                "state_change": _j({"completed_steps": 2}),
                "status": "ok",
            },
            {
                "event_type": "tool_call",
                **write,
                "action": "write",
                "input": _j({"path": "out/summary.md", "source": "summary-1"}),
            },
            {
                "event_type": "tool_result",
                **write,
                "parent": 17,
                "status": "ok",
                "output": _j({"path": "out/summary.md"}),
            },
            {
                "event_type": "learning_recorded",
                **SYSTEM,
                "reasoning": "Archived copies rescue sites that refuse fetches.",
                "status": "ok",
            },
            {
                "event_type": "run_completed",
                **SYSTEM,
                "output": _j({"answer": "wrote out/summary.md"}),
                "status": "ok",
            },
        ],
    )


def _simple(
    run_id: str, call: dict[str, Any], *, goal: str | None = GOAL, end: str | None = "run_completed"
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"event_type": "run_started", **SYSTEM, "goal": goal, "status": "ok"},
        {"event_type": "tool_call", **call},
        {
            "event_type": "tool_result",
            "parent": 1,
            "status": "ok",
            "output": "{}",
            **{k: call[k] for k in ("component_name", "component_kind", "component_version")},
        },
    ]
    if end:
        rows.append({"event_type": end, **SYSTEM, "status": "ok", "output": _j({"answer": "x"})})
    return _events(run_id, rows)


FETCH_OK = {
    "component_name": "WebFetcherTool",
    "component_kind": "tool",
    "component_version": "1.0",
    "action": "fetch",
    "input": _j({"url": URL}),
}


def bad_runs() -> dict[str, list[dict[str, Any]]]:
    """One run per assembly reason code, keyed by the code it must get."""
    contradictory = _simple("gold-bad-contradictory", FETCH_OK)
    contradictory.append(
        {
            **contradictory[-1],
            "event_id": "gold-bad-contradictory-009",
            "seq": 9,
            "event_type": "run_failed",
        }
    )
    return {
        "no_goal": _simple("gold-bad-no-goal", FETCH_OK, goal=None),
        "no_end": _simple("gold-bad-no-end", FETCH_OK, end=None),
        "no_steps": [e for e in _simple("gold-bad-no-steps", FETCH_OK) if e["seq"] in (0, 3)],
        "unknown_tool": _simple("gold-bad-unknown", {**FETCH_OK, "component_name": "TeleportTool"}),
        "non_json_arguments": _simple("gold-bad-json", {**FETCH_OK, "input": "{url: nope"}),
        "invalid_arguments": _simple(
            "gold-bad-args", {**FETCH_OK, "input": _j({"url": "ftp://example.org"})}
        ),
        "contradictory_events": contradictory,
    }
