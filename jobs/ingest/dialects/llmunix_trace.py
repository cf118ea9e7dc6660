"""Reusable execution traces (docs/trace-formats.md B6 and B7).

B6 `memory/long_term/execution_trace_<name>_v<semver>.md`: front matter (trace_id,
goal_signature, confidence, ...), `### Step N: <name>` with a fenced yaml `tool:`/`parameters:`
block, a validation list and an `on_error` block, and `## Version History`.

B7 `memories/traces/<goal signature>_<goal>.md`: `# Execution Trace: <goal>`, metadata bullets,
`## Tools Used`, `## Tool Calls` (JSON list), `## Output Summary`, `## Error Notes`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from .. import markdown as md
from ..component_names import resolve
from ..model import Rejection, SourceDoc
from ..units import (
    parse_cost,
    parse_duration,
    parse_fraction,
    parse_int,
    parse_timestamp,
)
from ._build import RunBuilder, array_item_lines, derived_run_id, file_name, goal_signature

PRODUCER = "llmunix"
_STEP_RE = re.compile(r"^step\s*(\d+)\s*[:.\-\u2013]\s*(.*)$", re.IGNORECASE)
_VERSION_LINE = re.compile(
    r"^\**v?(?P<ver>\d+(?:\.\d+)*)\**\s*(?:\((?P<date>[^)]*)\))?\s*[:\-\u2013]?\s*(?P<text>.*)$"
)
_SIG_NAME = re.compile(r"^([0-9a-f]{16})_")
_ON_ERROR = ("retry", "skip", "fail", "human_escalate", "fallback", "abort")


def _title_goal(all_sections: list[md.Section]) -> str | None:
    h1 = next((s for s in all_sections if s.level == 1), None)
    if h1 is None:
        return None
    goal = re.sub(r"^execution trace\s*[:\-\u2013]?\s*", "", h1.title, flags=re.IGNORECASE).strip()
    return goal or None


def _yaml_of(fence: md.Fence) -> tuple[Any, str | None]:
    try:
        return md.safe_load(fence.text), None
    except yaml.YAMLError as exc:
        return None, str(exc).splitlines()[0]


class ExecutionTraceFile:
    """B6: a crystallised, versioned execution trace from long-term memory."""

    name = "llmunix.execution_trace"
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        text = head.decode("utf-8", "replace")
        score = 0.0
        if re.search(r"^(trace_id|goal_signature)\s*:", text, re.MULTILINE):
            score += 0.5
        if re.search(r"^###\s*Step\s*\d+", text, re.MULTILINE | re.IGNORECASE):
            score += 0.2
        if re.search(r"```ya?ml", text) and "tool:" in text:
            score += 0.1
        if file_name(uri).startswith("execution_trace_"):
            score += 0.3
        return min(score, 0.9) if score >= 0.3 else 0.0

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        lines = md.lines_of(doc.text(), doc.first_line)
        fm, body = md.front_matter(lines)
        meta: dict[str, Any] = {}
        if fm is not None and fm.data is not None:
            meta = {md.norm_key(k): v for k, v in fm.data.items()}
        elif fm is not None:
            yield Rejection(
                "unparseable",
                f"front matter is not valid YAML ({fm.error}); steps are still read",
                md.raw_text(fm.lines),
                md.position(*fm.range),
            )
        all_sections = md.sections(body)
        goal = md.clean_value(meta.get("goal")) or _title_goal(all_sections)
        name_version = re.search(r"_v(\d+(?:\.\d+)*)\.md$", file_name(doc.uri))
        version = meta.get("version") or (name_version.group(1) if name_version else None)
        run_id = (
            md.clean_value(meta.get("trace_id"))
            or md.clean_value(meta.get("goal_signature"))
            or (goal_signature(str(goal)) if goal else derived_run_id(doc.uri, "trace"))
        )
        b = RunBuilder(
            str(run_id),
            ts=parse_timestamp(meta.get("created") or meta.get("timestamp")),
            attributes={"trace_version": version},
        )
        extra_meta = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
        header = fm.lines if fm is not None else lines[:1]
        yield b.event(
            "run_started",
            header,
            goal=goal,
            action="execution trace",
            attributes={
                "goal_signature": meta.get("goal_signature"),
                "confidence": parse_fraction(meta.get("confidence")),
                "success_rate": parse_fraction(meta.get("success_rate")),
                "usage_count": parse_int(meta.get("usage_count")),
                "estimated_cost_usd": parse_cost(meta.get("estimated_cost")),
                "estimated_time_s": parse_duration(
                    meta.get("estimated_time_secs") or meta.get("estimated_time")
                ),
                **{f"metadata.{k}": v for k, v in extra_meta.items()},
            },
        )
        steps = [s for s in all_sections if _STEP_RE.match(s.title)]
        plan = b.event(
            "plan_created",
            header,
            input=[
                {"step": int(m.group(1)), "action": m.group(2)}
                for s in steps
                if (m := _STEP_RE.match(s.title))
            ],
            action="trace steps",
        )
        yield plan
        for s in steps:
            yield from self._step(b, s, plan)
        history = md.find_section(all_sections, "version history", "changelog", "history")
        if history is not None:
            for item in md.bullets(history.subtree):
                match = _VERSION_LINE.match(item.text)
                if not match:
                    yield Rejection(
                        "unparseable",
                        "version history line not understood; expected `- **v1.0.0** (date): ...`",
                        item.text,
                        md.position(*md.span(item.lines)),
                    )
                    continue
                yield b.event(
                    "learning_recorded",
                    item.lines,
                    ts=parse_timestamp(match.group("date")),
                    reasoning=match.group("text").strip() or None,
                    action="trace version",
                    attributes={"trace_version": match.group("ver")},
                )

    def _step(self, b: RunBuilder, s: md.Section, plan: dict[str, Any]):
        match = _STEP_RE.match(s.title)
        assert match
        number = int(match.group(1))
        spec: dict[str, Any] = {}
        on_error: Any = None
        for fence in md.fences(s.subtree):
            data, error = _yaml_of(fence)
            if error is not None or not isinstance(data, dict):
                yield Rejection(
                    "unparseable",
                    f"step {number}: fenced block is not a YAML mapping ({error or 'not a map'})",
                    fence.text,
                    md.position(*md.span(fence.lines)),
                )
                continue
            if "on_error" in data and len(data) == 1:
                on_error = data["on_error"]
            else:
                spec.update(data)
                on_error = spec.pop("on_error", on_error)
        validation: list[str] = []
        kvs = md.kv_dict(md.key_values([ln for ln in s.subtree]))
        for sub in md.sections(s.subtree):
            key = md.title_key(sub.title)
            if key.startswith("validation"):
                validation += [i.text for i in md.bullets(sub.body)]
            elif key.startswith("on_error") or key.startswith("error_handling"):
                on_error = on_error or md.paragraph_text(sub.body)
        if "validation" in kvs:
            validation += kvs["validation"].items or [kvs["validation"].value]
        if on_error is None and "on_error" in kvs:
            on_error = kvs["on_error"].text()
        action = on_error.get("action") if isinstance(on_error, dict) else on_error
        if isinstance(action, str):
            found = [a for a in _ON_ERROR if a in action.lower()]
            action = found[0] if found else action
        tool = resolve(spec.get("tool") or spec.get("tool_name"), kind="tool")
        if tool is None and not spec:
            yield Rejection(
                "unparseable",
                f"step {number} has no `tool:` in a fenced yaml block",
                md.raw_text(s.all_lines),
                md.position(s.start, s.end),
            )
            return
        yield b.event(
            "tool_call",
            s.all_lines,
            parent=plan,
            component=tool,
            action=match.group(2).strip() or None,
            input=spec.get("parameters") or spec.get("params"),
            attributes={
                "step": number,
                "validation": validation or None,
                "on_error": action,
                "on_error_spec": on_error if isinstance(on_error, dict) else None,
                **{k: v for k, v in spec.items() if k not in ("tool", "tool_name", "parameters")},
            },
        )


class KernelTraceFile:
    """B7: a kernel trace keyed by its goal signature."""

    name = "llmunix.kernel_trace"
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        text = head.decode("utf-8", "replace")
        score = 0.0
        if re.search(r"^#\s*Execution Trace\b", text, re.MULTILINE | re.IGNORECASE):
            score += 0.4
        if re.search(r"^##\s*Tool Calls\b", text, re.MULTILINE | re.IGNORECASE):
            score += 0.3
        if re.search(r"Goal Signature", text, re.IGNORECASE):
            score += 0.2
        if _SIG_NAME.match(file_name(uri)):
            score += 0.15
        if re.search(r"^trace_id\s*:", text, re.MULTILINE):
            score -= 0.4
        return max(0.0, min(score, 0.95))

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        lines = md.lines_of(doc.text(), doc.first_line)
        all_sections = md.sections(lines)
        meta_sec = md.find_section(all_sections, "metadata")
        meta_kvs = md.key_values(meta_sec.body, plain=True) if meta_sec else []
        meta = {kv.key: md.clean_value(kv.text()) for kv in meta_kvs}
        goal = _title_goal(all_sections) or meta.get("goal")
        if goal and md.contains_placeholder(str(goal)):
            yield Rejection(
                "template",
                "kernel trace title is a template placeholder",
                doc.text(),
                md.position(*md.span(lines)),
            )
            return
        computed = goal_signature(str(goal)) if goal else None
        name_sig = _SIG_NAME.match(file_name(doc.uri))
        signature = meta.get("goal_signature") or (name_sig.group(1) if name_sig else computed)
        run_id = str(signature or derived_run_id(doc.uri, "trace"))
        kernel_mode = str(meta.get("mode") or "").upper() or None
        rating = parse_fraction(meta.get("success_rating") or meta.get("success_rate"))
        b = RunBuilder(
            run_id,
            ts=parse_timestamp(meta.get("created")),
            attributes={"kernel_mode": kernel_mode},
        )
        h1 = next((s for s in all_sections if s.level == 1), None)
        yield b.event(
            "run_started",
            (h1.heading if h1 else []) + [ln for kv in meta_kvs for ln in kv.lines] or lines[:1],
            goal=goal,
            action="kernel trace",
            attributes={
                "goal_signature": signature,
                "goal_signature_computed": computed if computed != signature else None,
                "success_rating": rating,
                "usage_count": parse_int(meta.get("usage_count")),
                "last_used": meta.get("last_used"),
                "estimated_cost_usd": parse_cost(meta.get("estimated_cost")),
                "estimated_time_s": parse_duration(meta.get("estimated_time")),
            },
        )
        tools_sec = md.find_section(all_sections, "tools used", "tools")
        if tools_sec is not None:
            for item in md.bullets(tools_sec.body):
                name = re.split(r"\s+[-\u2013(:]", item.text)[0]
                component = resolve(name, kind="tool")
                if component is not None:
                    yield b.event(
                        "component_selected", item.lines, component=component, action="tool used"
                    )
        calls_sec = md.find_section(all_sections, "tool calls")
        if calls_sec is not None:
            yield from self._calls(b, calls_sec)
        errors_sec = md.find_section(all_sections, "error notes", "errors")
        error_text = md.paragraph_text(errors_sec.subtree) if errors_sec else ""
        if error_text and md.clean_value(error_text.strip("- ")) is not None:
            yield b.event(
                "error",
                errors_sec.all_lines,
                error=error_text,
                status="error",
                action="error notes",
            )
        summary_sec = md.find_section(all_sections, "output summary", "summary")
        summary = md.paragraph_text(summary_sec.subtree) if summary_sec else None
        failed = rating is not None and rating < 0.5
        yield b.event(
            "run_failed" if failed else "run_completed",
            summary_sec.all_lines if summary_sec else (h1.heading if h1 else lines[:1]),
            ts=parse_timestamp(meta.get("last_used")),
            goal=goal,
            output=summary,
            status="error" if failed else "ok",
            attributes={"success_rating": rating, "outcome": "failure" if failed else "success"},
        )

    def _calls(self, b: RunBuilder, section: md.Section):
        blocks = md.fences(section.subtree)
        source = blocks[0].lines if blocks else md.strip_blank(section.subtree)
        if not source:
            return
        text = md.raw_text(source)
        try:
            calls = json.loads(text)
        except ValueError as exc:
            yield Rejection(
                "bad_json",
                f"`## Tool Calls` is not a JSON list of {{name, arguments}} ({exc}); fix the block",
                text,
                md.position(*md.span(source)),
            )
            return
        if isinstance(calls, dict):
            calls = [calls]
        if not isinstance(calls, list):
            yield Rejection(
                "schema", "`## Tool Calls` must be a JSON list", text, md.position(*md.span(source))
            )
            return
        ranges = array_item_lines(text, source[0].no) if text.lstrip().startswith("[") else []
        for n, call in enumerate(calls):
            name = (call.get("name") or call.get("tool")) if isinstance(call, dict) else None
            where = ranges[n] if n < len(ranges) else md.span(source)
            if not isinstance(call, dict) or not name:
                yield Rejection(
                    "schema",
                    f"tool call #{n + 1} has no `name`",
                    json.dumps(call),
                    md.position(*md.span(where)),
                )
                continue
            yield b.event(
                "tool_call",
                where,
                component=resolve(name, kind="tool"),
                input=call.get("arguments") or call.get("parameters"),
                action="tool call",
                attributes={"call_index": n},
            )


DIALECTS = [ExecutionTraceFile(), KernelTraceFile()]
