"""llmunix execution state (docs/trace-formats.md B1, and B2's plan.md and history.md).

`workspace/execution_state.md` holds everything in one file: metadata, variables, the plan
(`### Step N: <action>`) and the execution log (`### Step N Execution - <ts>`). The later state
directory splits it: `plan.md` (metadata + `## Steps`) and `history.md` (the execution log).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .. import markdown as md
from ..component_names import resolve
from ..model import Rejection, SourceDoc
from ..units import parse_cost, parse_duration, parse_status, parse_timestamp
from ._build import (
    SEQ_BASE,
    RunBuilder,
    derived_run_id,
    file_name,
    stray_text,
    template_rejection,
    workspace_run,
)

PRODUCER = "llmunix"
_RUN_STATUS = {
    "COMPLETED_SUCCESS": "run_completed",
    "COMPLETED": "run_completed",
    "SUCCESS": "run_completed",
    "COMPLETED_FAILURE": "run_failed",
    "FAILED": "run_failed",
    "FAILURE": "run_failed",
}
_PLAN_STEP_RE = re.compile(r"^step\s*(\d+)\s*[:.\-\u2013]\s*(.*)$", re.IGNORECASE)
_EXEC_STEP_RE = re.compile(r"^step\s*(\d+)\s*execution\s*(?:[-\u2013—:@]\s*(.*))?$", re.IGNORECASE)
_METADATA_KEYS = ("execution_id", "goal", "status", "current_step", "start_time", "mode")


def _value(kvs: dict[str, md.KeyValue], *keys: str) -> Any:
    for key in keys:
        kv = kvs.get(key)
        if kv is not None:
            value = md.clean_value(kv.text())
            if value is not None:
                return value
    return None


def _structured(kv: md.KeyValue | None) -> Any:
    """A field's value as data: nested bullets -> dict or list, JSON/YAML inline -> parsed."""
    if kv is None:
        return None
    if kv.items:
        pairs = [re.match(r"^\**`?([\w .\-]+?)`?\**\s*:\s*(.*)$", item) for item in kv.items]
        if all(pairs):
            return {md.norm_key(p.group(1)): md.clean_value(p.group(2)) for p in pairs if p}
        return [md.clean_value(i) for i in kv.items if md.clean_value(i) is not None]
    value = md.clean_value(kv.value)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            import json

            return json.loads(value)
        except ValueError:
            return md.parse_inline_list(value) if value.startswith("[") else value
    return value


def placeholder_rejections(kvs: list[md.KeyValue], what: str) -> Iterator[Rejection]:
    for kv in kvs:
        if md.is_placeholder(kv.text()):
            yield template_rejection(
                f"{what} field {kv.raw_key!r}", kv.lines, md.raw_text(kv.lines)
            )


def metadata(all_sections: list[md.Section], lines: list[md.Line]) -> list[md.KeyValue]:
    sec = md.find_section(all_sections, "metadata", "execution metadata")
    if sec is not None:
        return md.key_values(sec.body, plain=True)
    first_h2 = next((s.start for s in all_sections if s.level >= 2), None)
    head = [ln for ln in lines if first_h2 is None or ln.no < first_h2]
    return md.key_values(head)


def is_template_file(title: str | None, meta: list[md.KeyValue]) -> bool:
    """Nothing filled in: the title or every metadata value is a placeholder."""
    filled = [kv for kv in meta if md.clean_value(kv.text()) is not None]
    placeholders = [kv for kv in meta if md.is_placeholder(kv.text())]
    title_placeholder = bool(title) and md.contains_placeholder(title or "")
    return (title_placeholder and len(filled) <= 1) or (bool(placeholders) and not filled)


def run_header(
    builder_kind: str, doc: SourceDoc, meta: list[md.KeyValue], title: str | None
) -> tuple[RunBuilder, dict[str, Any]]:
    kvs = md.kv_dict(meta)
    near = workspace_run(doc.uri)
    run_id = _value(kvs, "execution_id", "run_id", "id") or near.execution_id
    run_id = str(run_id) if run_id else derived_run_id(doc.uri, builder_kind)
    start = parse_timestamp(_value(kvs, "start_time", "started", "created", "timestamp"))
    mode = str(_value(kvs, "mode") or "").upper() or None
    info = {
        "goal": _value(kvs, "goal", "primary_goal", "objective") or title or near.goal,
        "status": _value(kvs, "status", "state"),
        "start": start or near.start_time,
        "last_updated": parse_timestamp(_value(kvs, "last_updated", "updated")),
        "mode": mode if mode in ("EXECUTION", "SIMULATION") else None,
        "raw_mode": mode,
        "current_step": _value(kvs, "current_step"),
    }
    builder = RunBuilder(run_id, ts=info["start"], mode=info["mode"])
    return builder, info


def run_started(b: RunBuilder, meta: list[md.KeyValue], info: dict[str, Any], fallback):
    lines = [ln for kv in meta for ln in kv.lines] or fallback
    extras = {
        kv.key: md.clean_value(kv.text())
        for kv in meta
        if kv.key not in _METADATA_KEYS and md.clean_value(kv.text()) is not None
    }
    return b.event(
        "run_started",
        lines,
        goal=info["goal"],
        action="execution started",
        attributes={
            "status": info["status"],
            "current_step": info["current_step"],
            "kernel_mode": info["raw_mode"] if info["raw_mode"] != info["mode"] else None,
            **extras,
        },
    )


def plan_steps(b: RunBuilder, container: md.Section, all_sections: list[md.Section]):
    """plan_created for the plan, then component_selected per `### Step N: <action>`."""
    steps = [
        s
        for s in all_sections
        if s.level > container.level
        and container.start < s.start <= container.end
        and _PLAN_STEP_RE.match(s.title)
    ]
    intro = [ln for ln in container.body]
    rationale = md.paragraph_text([ln for ln in intro if not md.is_rule(ln.text)]) or None
    summary = []
    for s in steps:
        match = _PLAN_STEP_RE.match(s.title)
        assert match
        summary.append({"step": int(match.group(1)), "action": match.group(2).strip()})
    plan = b.event(
        "plan_created",
        container.heading + container.body if not steps else container.heading + intro,
        input=summary,
        reasoning=rationale,
        action="plan",
        attributes={"steps": len(steps)},
    )
    yield plan
    for s in steps:
        match = _PLAN_STEP_RE.match(s.title)
        assert match
        kv_list = md.key_values(s.body)
        yield from placeholder_rejections(kv_list, f"plan step {match.group(1)}")
        if md.contains_placeholder(s.title) and not any(
            md.clean_value(kv.text()) for kv in kv_list
        ):
            yield template_rejection("plan step", s.all_lines, md.raw_text(s.all_lines))
            continue
        kvs = md.kv_dict(kv_list)
        component = resolve(_value(kvs, "component", "agent", "tool", "component_used"))
        yield b.event(
            "component_selected",
            s.heading + s.body,
            parent=plan,
            component=component,
            action=match.group(2).strip() or None,
            input=_structured(kvs.get("inputs") or kvs.get("input")),
            reasoning=_value(kvs, "rationale", "reasoning", "why"),
            status=parse_status(_value(kvs, "status")),
            attributes={
                "step": int(match.group(1)),
                "tool_mapping": _value(kvs, "tool_mapping", "tool"),
                "expected_outputs": _structured(kvs.get("expected_outputs")),
                "estimated_cost_usd": parse_cost(_value(kvs, "estimated_cost")),
                "estimated_time_s": parse_duration(_value(kvs, "estimated_time")),
                "side_effects": _structured(kvs.get("side_effects")),
                "plan_status": _value(kvs, "status"),
            },
        )


def execution_entries(b: RunBuilder, entries: list[md.Section], what: str):
    """tool_call + tool_result per `### Step N Execution - <ts>` block."""
    for s in entries:
        match = _EXEC_STEP_RE.match(s.title)
        assert match
        kv_list = md.key_values(s.body)
        yield from placeholder_rejections(kv_list, f"{what} step {match.group(1)}")
        kvs = md.kv_dict(kv_list)
        if not any(md.clean_value(kv.text()) for kv in kv_list):
            if md.contains_placeholder(md.raw_text(s.all_lines)):
                yield template_rejection(f"{what} entry", s.all_lines, md.raw_text(s.all_lines))
            else:
                yield Rejection(
                    "unparseable",
                    f"{what} entry {s.title!r} has no `- **key**: value` fields "
                    "(expected tool_used, real_inputs, real_outputs, ...)",
                    md.raw_text(s.all_lines),
                    md.position(s.start, s.end),
                )
            continue
        ts = parse_timestamp(match.group(2)) or parse_timestamp(_value(kvs, "timestamp"))
        tool = resolve(_value(kvs, "tool_used", "tool"))
        agent = resolve(_value(kvs, "component_used", "component", "agent"))
        errors = _value(kvs, "errors", "error")
        error_text = errors if isinstance(errors, str) else None
        step_attrs = {"step": int(match.group(1))}
        if agent is not None:
            step_attrs["component_used"] = agent.name
        call_lines = [
            ln
            for k in ("tool_used", "real_inputs", "component_used")
            if k in kvs
            for ln in kvs[k].lines
        ]
        call = b.event(
            "tool_call",
            s.heading + call_lines,
            ts=ts,
            component=tool or agent,
            action=f"step {match.group(1)}",
            input=_structured(kvs.get("real_inputs") or kvs.get("inputs")),
            attributes=step_attrs,
        )
        yield call
        status = parse_status(_value(kvs, "status"))
        if status is None:
            # "⚠️ 2 pages slow" is a warning on a step that worked, not a failure
            warning_only = error_text and any(m in error_text for m in ("⚠", "🟠"))
            status = "error" if error_text and not warning_only else "ok"
        duration = parse_duration(_value(kvs, "actual_time", "duration", "time"))
        yield b.event(
            "tool_result",
            s.heading + s.body,
            ts=ts,
            parent=call,
            component=tool or agent,
            action=f"step {match.group(1)}",
            output=_structured(kvs.get("real_outputs") or kvs.get("outputs")),
            state_change=_structured(kvs.get("state_changes")),
            cost_usd=parse_cost(_value(kvs, "actual_cost", "cost")),
            latency_ms=duration * 1000 if duration is not None else None,
            status=status,
            error=error_text if status == "error" else None,
            attributes={
                **step_attrs,
                "warnings": error_text if status != "error" else None,
                "notes": _value(kvs, "notes"),
            },
        )


def run_end(b: RunBuilder, meta: list[md.KeyValue], info: dict[str, Any], total_cost: float):
    status = str(info["status"] or "").upper().replace(" ", "_")
    event_type = _RUN_STATUS.get(status)
    if event_type is None:
        return None
    kv = md.kv_dict(meta).get("status")
    lines = kv.lines if kv else []
    duration = None
    if info["start"] and info["last_updated"]:
        duration = (info["last_updated"] - info["start"]).total_seconds() * 1000
    return b.event(
        event_type,
        lines,
        ts=info["last_updated"],
        goal=info["goal"],
        status="ok" if event_type == "run_completed" else "error",
        cost_usd=total_cost or None,
        latency_ms=duration if duration is not None and duration >= 0 else None,
        attributes={"outcome": "success" if event_type == "run_completed" else "failure"},
    )


def _exec_sections(all_sections: list[md.Section]) -> list[md.Section]:
    return [s for s in all_sections if _EXEC_STEP_RE.match(s.title)]


def _costs(events: list[dict[str, Any]]) -> float:
    return sum(e.get("cost_usd") or 0.0 for e in events if e.get("event_type") == "tool_result")


def _unknown_sections(all_sections, known: tuple[str, ...], what: str) -> Iterator[Rejection]:
    for s in all_sections:
        if s.level != 2 or md.find_section([s], *known) is not None:
            continue
        if not md.strip_blank(s.subtree):
            continue
        yield Rejection(
            "unrecognised_section",
            f"section {s.title!r} is not part of the {what} format (known: {', '.join(known)}); "
            "it was not stored",
            md.raw_text(s.all_lines),
            md.position(s.start, s.end),
        )


def _sniff_score(head: str, needles: tuple[str, ...]) -> int:
    return sum(1 for n in needles if re.search(n, head, re.IGNORECASE | re.MULTILINE))


class ExecutionStateFile:
    """B1: the single `execution_state.md` file."""

    name = "llmunix.execution_state"
    producer = PRODUCER
    _known = ("metadata", "variables", "execution plan", "execution log", "training data")

    def sniff(self, uri: str, head: bytes) -> float:
        text = head.decode("utf-8", "replace")
        if re.search(r"^#\s*Execution State\b", text, re.MULTILINE | re.IGNORECASE):
            return 0.9
        hits = _sniff_score(
            text, (r"^##\s*Execution Plan", r"^##\s*Execution Log", r"^##\s*Metadata")
        )
        score = 0.3 * hits
        if file_name(uri) == "execution_state.md":
            score += 0.3
        return min(score, 0.85)

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        lines = md.lines_of(doc.text(), doc.first_line)
        all_sections = md.sections(lines)
        h1 = next((s for s in all_sections if s.level == 1), None)
        title = (
            re.sub(r"^execution state\s*[:\-\u2013]?\s*", "", h1.title, flags=re.I) if h1 else None
        )
        meta = metadata(all_sections, lines)
        if is_template_file(title, meta):
            yield template_rejection("execution state file", md.strip_blank(lines), doc.text())
            return
        b, info = run_header("execution", doc, meta, md.clean_value(title))  # type: ignore[arg-type]
        yield from placeholder_rejections(meta, "metadata")
        yield run_started(b, meta, info, h1.heading if h1 else lines[:1])
        variables = md.find_section(all_sections, "variables")
        if variables is not None and md.strip_blank(variables.body):
            yield from variables_event(b, variables)
        plan = md.find_section(all_sections, "execution plan", "plan", "steps")
        if plan is not None:
            yield from plan_steps(b, plan, all_sections)
        results = list(execution_entries(b, _exec_sections(all_sections), "execution log"))
        yield from results
        training = md.find_section(all_sections, "training data")
        if training is not None and md.strip_blank(training.subtree):
            yield b.event(
                "x-training_data",
                training.all_lines,
                output=md.paragraph_text(training.subtree),
                action="training data notes",
            )
        yield from _unknown_sections(all_sections, self._known, "execution state")
        end = run_end(b, meta, info, _costs([r for r in results if isinstance(r, dict)]))
        if end is not None:
            yield end


def variables_event(b: RunBuilder, section: md.Section) -> Iterator[dict[str, Any] | Rejection]:
    fenced = md.fences(section.body)
    data: Any = None
    if fenced:
        import json

        try:
            data = json.loads(fenced[0].text)
        except ValueError:
            data, error = md.parse_yaml_mapping(fenced[0].lines)
            if data is None:
                yield Rejection(
                    "unparseable",
                    f"variables block is neither JSON nor YAML ({error}); fix the block",
                    fenced[0].text,
                    md.position(*md.span(fenced[0].lines)),
                )
                return
    else:
        kv_list = md.key_values(section.body, plain=True)
        yield from placeholder_rejections(kv_list, "variables")
        data = {kv.key: _structured(kv) for kv in kv_list if md.clean_value(kv.text()) is not None}
    if data:
        yield b.event("state_changed", section.all_lines, state_change=data, action="variables")


class StatePlanFile:
    """B2: `workspace/state/plan.md`: metadata and `## Steps`."""

    name = "llmunix.state_plan"
    producer = PRODUCER
    _known = ("metadata", "steps", "execution plan", "plan", "goal", "overview", "rationale")

    def sniff(self, uri: str, head: bytes) -> float:
        text = head.decode("utf-8", "replace")
        if re.search(r"^#\s*Execution State\b", text, re.MULTILINE | re.IGNORECASE):
            return 0.0
        score = 0.0
        if re.search(r"^##\s*Steps\b", text, re.MULTILINE | re.IGNORECASE):
            score += 0.35
        if re.search(r"execution_id|execution id", text, re.IGNORECASE):
            score += 0.2
        if re.search(r"^###\s*Step\s*\d+\s*:", text, re.MULTILINE | re.IGNORECASE):
            score += 0.2
        if file_name(uri) == "plan.md":
            score += 0.3
        if re.search(r"trace_id|goal_signature", text):
            score -= 0.5
        return max(0.0, min(score, 0.85))

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        lines = md.lines_of(doc.text(), doc.first_line)
        all_sections = md.sections(lines)
        h1 = next((s for s in all_sections if s.level == 1), None)
        title = (
            re.sub(r"^(execution )?plan\s*[:\-\u2013]?\s*", "", h1.title, flags=re.I)
            if h1
            else None
        )
        meta = metadata(all_sections, lines)
        if is_template_file(title, meta):
            yield template_rejection("plan file", md.strip_blank(lines), doc.text())
            return
        b, info = run_header("execution", doc, meta, md.clean_value(title))  # type: ignore[arg-type]
        b.seq = SEQ_BASE["plan"]
        yield from placeholder_rejections(meta, "metadata")
        yield run_started(b, meta, info, h1.heading if h1 else lines[:1])
        plan = md.find_section(all_sections, "steps", "execution plan", "plan")
        if plan is not None:
            rationale = md.find_section(all_sections, "rationale", "plan rationale")
            events = list(plan_steps(b, plan, all_sections))
            if rationale is not None and events and isinstance(events[0], dict):
                # The plan's why lives in its own section in some versions of the template.
                text = md.paragraph_text(rationale.subtree)
                first = dict(events[0])
                first["reasoning"] = "\n\n".join(t for t in (first.get("reasoning"), text) if t)
                events[0] = first
            yield from events
        yield from _unknown_sections(all_sections, self._known, "plan")
        end = run_end(b, meta, info, 0.0)
        if end is not None:
            yield end


class StateHistoryFile:
    """B2: `workspace/state/history.md`, the append-only `### Step N Execution` log."""

    name = "llmunix.state_history"
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        text = head.decode("utf-8", "replace")
        if re.search(r"^#\s*Execution State\b|^##\s*Execution Plan", text, re.M | re.I):
            return 0.0
        hits = len(re.findall(r"^###\s*Step\s*\d+\s*Execution", text, re.MULTILINE | re.I))
        if not hits:
            return 0.0
        score = 0.6 + (0.2 if file_name(uri) == "history.md" else 0.0)
        return min(score + 0.05 * hits, 0.9)

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        lines = md.lines_of(doc.text(), doc.first_line)
        all_sections = md.sections(lines)
        near = workspace_run(doc.uri)
        run_id = near.execution_id or derived_run_id(doc.uri, "execution")
        b = RunBuilder(run_id, ts=near.start_time, seq=SEQ_BASE["history"])
        entries = _exec_sections(all_sections)
        yield from execution_entries(b, entries, "history")
        yield from stray_text(
            lines,
            entries,
            all_sections,
            "text outside any `### Step N Execution - <timestamp>` block; "
            "history entries must start with that heading",
        )


DIALECTS = [ExecutionStateFile(), StatePlanFile(), StateHistoryFile()]
