"""Per-project memory notes (docs/trace-formats.md B5):
`projects/<P>/memory/short_term/YYYY-MM-DD_HH-MM-SS_<agent>.md`, one agent interaction each.

Header: YAML front matter or `**Key:** value` lines. Body sections: Request, Agent Response,
Tool Calls Executed (one outcome line per call), Outcome, Learnings. Each note is one run."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .. import markdown as md
from ..component_names import resolve
from ..model import Rejection, SourceDoc
from ..units import parse_bool, parse_duration, parse_outcome, parse_status, parse_timestamp
from ._build import RunBuilder, derived_run_id, file_name, path_tail

PRODUCER = "llmunix"
_NAME_RE = re.compile(r"(\d{4}-\d{2}-\d{2}[_T]\d{2}-\d{2}-\d{2})_(.+?)\.md$", re.IGNORECASE)
_HTTP_RE = re.compile(r"\b(?:HTTP\s*)?([45]\d\d)\b(?:\s+[A-Z][a-z]+)?")
_CALL_RE = re.compile(
    r"^(?:\*\*|`)?(?P<tool>[A-Za-z][\w.\-]*)(?:\*\*|`)?\s*"
    r"(?:\((?P<args>[^)]*)\)|:\s*(?P<args2>[^→]*?)(?=\s*(?:→|->|—|=>|$))|\s+(?P<args3>\S+))?"
    r"\s*(?:→|->|—|=>|:)?\s*(?P<result>.*)$"
)
_KNOWN = (
    "request",
    "agent response",
    "response",
    "tool calls",
    "outcome",
    "result",
    "learnings",
    "key learnings",
    "lessons",
    "context",
    "memory",
)


def _header(
    lines: list[md.Line],
) -> tuple[dict[str, Any], list[md.Line], list[md.Line], str | None]:
    fm, body = md.front_matter(lines)
    if fm is not None and fm.data is not None:
        return {md.norm_key(k): v for k, v in fm.data.items()}, fm.lines, body, None
    if fm is not None:
        return {}, fm.lines, body, fm.error
    first_h2 = next((s.start for s in md.sections(lines) if s.level >= 2), None)
    head = [ln for ln in lines if first_h2 is None or ln.no < first_h2]
    kvs = md.key_values(head)
    return {kv.key: kv.text() for kv in kvs}, [ln for kv in kvs for ln in kv.lines], lines, None


def tool_call_line(text: str) -> dict[str, Any] | None:
    """ "WebFetch(https://x) → 403 Forbidden" -> tool, args, result, status, error_type."""
    original = text
    text = re.sub(r"^[✅❌⚠️⏭️🔄\s]+", "", text.strip())
    match = _CALL_RE.match(text)
    if not match:
        return None
    args = next((match.group(g) for g in ("args", "args2", "args3") if match.group(g)), None)
    result = (match.group("result") or "").strip()
    http = _HTTP_RE.search(result) or _HTTP_RE.search(text)
    status = parse_status(result) or parse_status(original)
    error_type = None
    exit_code = re.search(r"\bexit(?: code)?\s*[:=]?\s*(\d+)", result, re.IGNORECASE)
    if exit_code and exit_code.group(1) != "0":
        status, error_type = "error", f"exit_{exit_code.group(1)}"
    if http and http.group(1)[0] in "45":
        status, error_type = "error", f"http_{http.group(1)}"
    return {
        "tool": match.group("tool"),
        "args": args.strip() if args else None,
        "result": result or None,
        "status": status or "ok",
        "error_type": error_type,
    }


class MemoryNote:
    name = "llmunix.memory_note"
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        text = head.decode("utf-8", "replace")
        score = 0.0
        if _NAME_RE.search(file_name(uri)):
            score += 0.35
        if re.search(r"^(agent|\*\*Agent:?\*\*:?)\s*:?", text, re.M | re.I) and re.search(
            r"^(action|\*\*Action:?\*\*:?)\s*:?", text, re.M | re.I
        ):
            score += 0.3
        score += 0.1 * len(
            re.findall(
                r"^##\s*(Request|Agent Response|Tool Calls Executed|Outcome|Learnings)",
                text,
                re.M | re.I,
            )
        )
        if re.search(r"experience_id|trace_id|^###\s*[A-Z_]{5,}\s*$", text, re.M):
            score -= 0.4
        return max(0.0, min(score, 0.85))

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        lines = md.lines_of(doc.text(), doc.first_line)
        header, header_lines, body, fm_error = _header(lines)
        if fm_error:
            yield Rejection(
                "unparseable",
                f"front matter is not a YAML mapping ({fm_error}); the note body is still read",
                md.raw_text(header_lines),
                md.position(*md.span(header_lines)),
            )
        name_match = _NAME_RE.search(file_name(doc.uri))
        ts = parse_timestamp(md.clean_value(header.get("timestamp")))
        if ts is None and name_match:
            ts = parse_timestamp(name_match.group(1).replace("T", "_"))
        agent_raw = md.clean_value(header.get("agent")) or (name_match and name_match.group(2))
        agent = resolve(agent_raw, kind="agent") if agent_raw else None
        parts = path_tail(doc.uri).split("/")
        project = parts[1] if parts[0] == "projects" and len(parts) > 1 else None
        mode = str(md.clean_value(header.get("mode")) or "").upper()
        b = RunBuilder(
            derived_run_id(doc.uri, "note"),
            ts=ts,
            mode=mode if mode in ("EXECUTION", "SIMULATION") else None,
            attributes={"project": project},
        )
        all_sections = md.sections(body)
        request = md.find_section(all_sections, "request", "user request", "task")
        request_text = md.paragraph_text(request.subtree) if request else None
        action = md.clean_value(header.get("action"))
        goal = request_text or action or md.clean_value(header.get("context"))
        if all(md.is_placeholder(v) for v in header.values() if isinstance(v, str)) and header:
            yield Rejection(
                "template",
                "memory note header holds only template placeholders",
                doc.text(),
                md.position(*md.span(lines)),
            )
            return
        yield b.event(
            "run_started",
            header_lines or lines[:1],
            goal=goal,
            component=agent,
            action=str(action) if action else None,
            attributes={
                "context": md.clean_value(header.get("context")),
                "memory_driven": parse_bool(header.get("memory_driven")),
                "reference_project": md.clean_value(header.get("reference_project")),
                "note_header": "front_matter"
                if header_lines and header_lines[0].text == "---"
                else "bold_keys",
            },
        )
        if request is not None and request_text:
            yield b.event("goal_received", request.all_lines, goal=request_text, input=request_text)
        handled = {id(request)}
        response = md.find_section(all_sections, "agent response", "response")
        if response is not None and md.paragraph_text(response.subtree):
            handled.add(id(response))
            yield b.event(
                "agent_message",
                response.all_lines,
                component=agent,
                output=md.paragraph_text(response.subtree),
                attributes={"role": "assistant"},
            )
        calls = md.find_section(all_sections, "tool calls executed", "tool calls", "tools used")
        if calls is not None:
            handled.add(id(calls))
            yield from self._calls(b, calls)
        learnings = md.find_section(all_sections, "learnings", "key learnings", "lessons")
        if learnings is not None:
            handled.add(id(learnings))
            items = md.bullets(learnings.subtree) or (
                [md.Bullet(md.paragraph_text(learnings.subtree), md.strip_blank(learnings.subtree))]
                if md.paragraph_text(learnings.subtree)
                else []
            )
            for item in items:
                yield b.event(
                    "learning_recorded",
                    item.lines,
                    reasoning=item.text,
                    action="learning",
                    component=agent,
                )
        outcome_sec = md.find_section(all_sections, "outcome", "result", "status")
        if outcome_sec is not None:
            handled.add(id(outcome_sec))
        for s in all_sections:
            if id(s) in handled or s.level != 2 or not md.paragraph_text(s.subtree):
                continue
            yield b.event(
                "memory_consulted"
                if "memory" in md.title_key(s.title) or "context" in md.title_key(s.title)
                else "x-note_section",
                s.all_lines,
                action=s.title,
                reasoning=md.paragraph_text(s.subtree),
            )
        outcome_text = md.paragraph_text(outcome_sec.subtree) if outcome_sec else None
        outcome_raw = (
            md.clean_value(header.get("outcome"))
            or md.clean_value(header.get("status"))
            or outcome_text
        )
        outcome = parse_outcome(outcome_raw)
        if outcome is None and outcome_text:
            outcome = parse_outcome(outcome_text.split("\n")[0])
        duration = parse_duration(
            md.clean_value(header.get("execution_time_secs"))
            or md.clean_value(header.get("execution_duration"))
            or md.clean_value(header.get("duration"))
        )
        if outcome is not None:
            failed = outcome == "failure"
            yield b.event(
                "run_failed" if failed else "run_completed",
                outcome_sec.all_lines if outcome_sec else header_lines,
                goal=goal,
                component=agent,
                output=outcome_text,
                status="error" if failed else "ok",
                latency_ms=duration * 1000 if duration is not None else None,
                attributes={"outcome": outcome, "outcome_raw": outcome_raw},
            )
        elif outcome_raw:
            yield Rejection(
                "unparseable",
                f"note outcome {str(outcome_raw)[:80]!r} is not a recognisable outcome "
                "(success / partial / failure); the run has no end event",
                str(outcome_raw),
                md.position(*md.span(outcome_sec.all_lines)) if outcome_sec else None,
            )

    def _calls(self, b: RunBuilder, section: md.Section):
        items = md.bullets(section.subtree)
        for item in items:
            first = item.text.split("\n")[0]
            call = tool_call_line(first)
            if call is None:
                yield Rejection(
                    "unparseable",
                    "tool call line not understood; expected `Tool(args) → outcome`",
                    item.text,
                    md.position(*md.span(item.lines)),
                )
                continue
            component = resolve(call["tool"], kind="tool")
            event = b.event(
                "tool_call", item.lines, component=component, input=call["args"], action="tool call"
            )
            yield event
            yield b.event(
                "tool_result",
                item.lines,
                parent=event,
                component=component,
                output=call["result"],
                status=call["status"],
                error=call["result"] if call["status"] == "error" else None,
                error_type=call["error_type"],
            )


DIALECTS = [MemoryNote()]
