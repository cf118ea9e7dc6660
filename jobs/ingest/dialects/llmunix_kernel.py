"""llmunix kernel event log (docs/trace-formats.md B3): a `history.md` of `### <EVENT_TYPE>` blocks
with `**Timestamp**:` and `**key**: value` lines, separated by `---`. Maps almost one to one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .. import markdown as md
from ..component_names import resolve
from ..model import Rejection, SourceDoc
from ..units import parse_cost, parse_duration, parse_int, parse_status, parse_timestamp
from ._build import SEQ_BASE, RunBuilder, derived_run_id, file_name, stray_text, workspace_run

PRODUCER = "llmunix"
_BLOCK_RE = re.compile(r"^[A-Z][A-Z0-9_]{3,}$")

# kernel event -> (event_type, step status, error_type)
KERNEL_EVENTS: dict[str, tuple[str, str | None, str | None]] = {
    "EXECUTION_INITIALIZED": ("run_started", None, None),
    "GOAL_RECEIVED": ("goal_received", None, None),
    "PLAN_CREATED": ("plan_created", None, None),
    "GOAL_DECOMPOSITION": ("plan_created", None, None),
    "PLANNING": ("plan_created", None, None),
    "MEMORY_CONSULTATION": ("memory_consulted", None, None),
    "MEMORY_CONSULTED": ("memory_consulted", None, None),
    "AGENT_REGISTERED": ("component_selected", None, None),
    "AGENT_SELECTED": ("component_selected", None, None),
    "AGENT_CREATED_ON_DEMAND": ("component_created", None, None),
    "AGENT_CREATED": ("component_created", None, None),
    "AGENT_EVOLVED": ("component_evolved", None, None),
    "STEP_EXECUTION_STARTED": ("tool_call", "pending", None),
    "STEP_EXECUTION_COMPLETED": ("tool_result", "ok", None),
    "STEP_EXECUTION_FAILED": ("tool_result", "error", "step_failed"),
    "TOOL_CALL": ("tool_call", "pending", None),
    "TOOL_RESULT": ("tool_result", "ok", None),
    "DELEGATION_STARTED": ("delegation", "pending", None),
    "DELEGATION_COMPLETED": ("agent_message", "ok", None),
    "DELEGATION_TIMEOUT": ("error", "error", "delegation_timeout"),
    "DELEGATION_ERROR": ("error", "error", "delegation_error"),
    "BUDGET_EXCEEDED": ("error", "error", "budget_exceeded"),
    "AGENT_NOT_FOUND": ("error", "error", "agent_not_found"),
    "ERROR": ("error", "error", None),
    "ERROR_HANDLING": ("recovery", None, None),
    "RECOVERY": ("recovery", None, None),
    "RETRY": ("recovery", None, None),
    "FALLBACK": ("recovery", None, None),
    "STATE_TRANSITION": ("state_changed", None, None),
    "STATE_UPDATED": ("state_changed", None, None),
    "VALIDATION": ("x-validation", None, None),
    "VALIDATION_PASSED": ("x-validation", "ok", None),
    "VALIDATION_FAILED": ("x-validation", "error", "validation_failed"),
    "LEARNING_RECORDED": ("learning_recorded", None, None),
    "ORCHESTRATION_FAILED": ("run_failed", "error", "orchestration_failed"),
    "EXECUTION_FAILED": ("run_failed", "error", None),
    "EXECUTION_COMPLETED": ("run_completed", "ok", None),
}
_PARENT_OF = {
    "STEP_EXECUTION_COMPLETED": "STEP_EXECUTION_STARTED",
    "STEP_EXECUTION_FAILED": "STEP_EXECUTION_STARTED",
    "TOOL_RESULT": "TOOL_CALL",
    "DELEGATION_COMPLETED": "DELEGATION_STARTED",
    "DELEGATION_TIMEOUT": "DELEGATION_STARTED",
    "DELEGATION_ERROR": "DELEGATION_STARTED",
}
# Keys that name the component a block is about, most specific first.
_COMPONENT_KEYS = (
    "agent",
    "agent_name",
    "target_agent",
    "to_agent",
    "delegated_to",
    "tool",
    "tool_name",
    "component",
)
_CONSUMED = {
    "timestamp",
    "execution_id",
    "goal",
    *_COMPONENT_KEYS,
    "version",
    "cost",
    "actual_cost",
    "duration",
    "actual_time",
    "reasoning",
    "rationale",
    "error",
    "error_message",
    "status",
    "mode",
}


def _event_type_for(kernel_type: str) -> tuple[str, str | None, str | None]:
    if kernel_type in KERNEL_EVENTS:
        return KERNEL_EVENTS[kernel_type]
    return (f"x-kernel.{kernel_type.lower()}"[:64], None, None)


def _val(kvs: dict[str, md.KeyValue], *keys: str) -> Any:
    for key in keys:
        if key in kvs:
            value = md.clean_value(kvs[key].text())
            if value is not None:
                return value
    return None


class KernelHistory:
    name = "llmunix.kernel_history"
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        text = head.decode("utf-8", "replace")
        blocks = re.findall(r"^###\s*([A-Z][A-Z0-9_]{3,})\s*$", text, re.MULTILINE)
        known = sum(1 for b in blocks if b in KERNEL_EVENTS)
        if not blocks:
            return 0.0
        score = 0.5 + 0.1 * known
        if re.search(r"\*\*Timestamp\*?\*?:", text):
            score += 0.2
        if file_name(uri) == "history.md":
            score += 0.05
        return min(score, 0.95)

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        lines = md.lines_of(doc.text(), doc.first_line)
        all_sections = md.sections(lines)
        blocks = [s for s in all_sections if s.level >= 2 and _BLOCK_RE.match(s.title.strip())]
        parsed = [
            (s, md.kv_dict(md.key_values([ln for ln in s.body if not md.is_rule(ln.text)])))
            for s in blocks
        ]
        near = workspace_run(doc.uri)
        exec_id = next(
            (_val(kvs, "execution_id") for _, kvs in parsed if "execution_id" in kvs), None
        )
        goal = (
            next((_val(kvs, "goal") for _, kvs in parsed if _val(kvs, "goal")), None) or near.goal
        )
        first_ts = next(
            (t for _, kvs in parsed if (t := parse_timestamp(_val(kvs, "timestamp")))), None
        )
        run_id = str(exec_id or near.execution_id or derived_run_id(doc.uri, "kernel"))
        mode = next(
            (str(_val(kvs, "mode")).upper() for _, kvs in parsed if _val(kvs, "mode")), None
        )
        b = RunBuilder(
            run_id,
            ts=first_ts or near.start_time,
            seq=SEQ_BASE["history"],
            mode=mode if mode in ("EXECUTION", "SIMULATION") else None,
        )
        open_parents: dict[str, list[dict[str, Any]]] = {}
        for s, kvs in parsed:
            kernel_type = s.title.strip()
            body = md.strip_blank([ln for ln in s.body if not md.is_rule(ln.text)])
            if not kvs:
                yield Rejection(
                    "unparseable",
                    f"kernel event {kernel_type} has no `**key**: value` lines",
                    md.raw_text(s.heading + body),
                    md.position(s.start, body[-1].no if body else s.start),
                )
                continue
            placeholders = [kv for kv in kvs.values() if md.is_placeholder(kv.text())]
            if placeholders and len(placeholders) == len(kvs):
                yield Rejection(
                    "template",
                    f"kernel event {kernel_type} holds only template placeholders; not trace data",
                    md.raw_text(s.heading + body),
                    md.position(s.start, body[-1].no),
                )
                continue
            event_type, status, error_type = _event_type_for(kernel_type)
            ts = parse_timestamp(_val(kvs, "timestamp"))
            if ts is not None:
                b.ts = ts  # blocks without a time inherit the previous block's
            component = resolve(
                _val(kvs, *_COMPONENT_KEYS),
                version=_val(kvs, "version"),
            )
            status = parse_status(_val(kvs, "status")) or status
            error = _val(kvs, "error", "error_message")
            if error_type and not error:
                error = _val(kvs, "reason", "message", "details") or kernel_type.lower()
            duration = parse_duration(_val(kvs, "duration", "actual_time", "elapsed"))
            parent = None
            if kernel_type in _PARENT_OF:
                stack = open_parents.get(_PARENT_OF[kernel_type], [])
                same = [p for p in stack if component and p.get("component_name") == component.name]
                parent = (same or stack or [None])[-1]
                if parent is not None:
                    stack.remove(parent)
            attrs = {
                kv.key: md.clean_value(kv.text())
                for key, kv in kvs.items()
                if key not in _CONSUMED and md.clean_value(kv.text()) is not None
            }
            attrs["kernel_event"] = kernel_type
            if status is None and parse_int(_val(kvs, "error_count")):
                status = "error"
            extra: dict[str, Any] = {}
            if event_type in ("run_started", "run_completed", "run_failed", "goal_received"):
                extra["goal"] = goal
            event = b.event(
                event_type,
                s.heading + body,
                ts=ts,
                parent=parent,
                component=component,
                action=kernel_type.lower().replace("_", " "),
                reasoning=_val(kvs, "reasoning", "rationale", "decision_rationale"),
                status=status,
                error=error if status == "error" or event_type == "error" else None,
                error_type=error_type,
                cost_usd=parse_cost(_val(kvs, "cost", "actual_cost", "total_cost")),
                latency_ms=duration * 1000 if duration is not None else None,
                attributes=attrs,
                **extra,
            )
            if kernel_type in _PARENT_OF.values():
                open_parents.setdefault(kernel_type, []).append(event)
            yield event
        yield from stray_text(
            lines,
            blocks,
            all_sections,
            "text outside any `### <EVENT_TYPE>` block (event types are UPPER_SNAKE_CASE "
            "headings); it was not stored",
        )


DIALECTS = [KernelHistory()]
