"""llmunix state directory, the files besides plan.md and history.md (docs/trace-formats.md B2):
`context.md` (where the reasoning lives), `variables.json` and `constraints.md|json`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from .. import markdown as md
from ..model import Rejection, SourceDoc
from ..units import parse_cost, parse_fraction
from ._build import SEQ_BASE, RunBuilder, derived_run_id, file_name, workspace_run

PRODUCER = "llmunix"
_REASONING_TITLES = ("decision", "rationale", "reasoning", "strategy", "approach", "why")
_CONSTRAINT_KEYS = (
    "user_sentiment",
    "priority",
    "max_cost_per_task",
    "error_tolerance",
    "active_persona",
    "time_limit",
    "quality_threshold",
)


def _run(doc: SourceDoc, kind: str) -> RunBuilder:
    near = workspace_run(doc.uri)
    return RunBuilder(
        near.execution_id or derived_run_id(doc.uri, "execution"),
        ts=near.start_time,
        seq=SEQ_BASE[kind],
    )


class StateContextFile:
    """`context.md`: knowledge and current understanding become memory_consulted; decision
    rationale becomes plan_created. The text is kept whole in `reasoning`."""

    name = "llmunix.state_context"
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        text = head.decode("utf-8", "replace")
        hits = len(
            re.findall(
                r"^#{1,3}\s*[^\w\n]*\s*(Decision Rationale|Current Understanding|Knowledge|"
                r"Key (Findings|Insights)|Memory Insights|Context)\b",
                text,
                re.MULTILINE | re.IGNORECASE,
            )
        )
        score = min(0.25 * hits, 0.6)
        if file_name(uri) == "context.md":
            score += 0.3
        return score if hits or score >= 0.3 else 0.0

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        lines = md.lines_of(doc.text(), doc.first_line)
        all_sections = md.sections(lines)
        b = _run(doc, "context")
        top = [s for s in all_sections if s.level == 2] or [s for s in all_sections if s.level == 1]
        for s in top:
            text = md.paragraph_text(s.subtree if s.level == 2 else s.body)
            if not text:
                continue
            if md.contains_placeholder(text) and len(text) < 200:
                yield Rejection(
                    "template",
                    f"context section {s.title!r} still holds its template placeholder; "
                    "fill it in or delete the section",
                    md.raw_text(s.all_lines),
                    md.position(s.start, s.end),
                )
                continue
            key = md.title_key(s.title)
            reasoning_section = any(word in key for word in _REASONING_TITLES)
            yield b.event(
                "plan_created" if reasoning_section else "memory_consulted",
                s.all_lines if s.level == 2 else s.heading + s.body,
                action=s.title,
                reasoning=text,
                attributes={"context_section": key},
            )
        first = min((s.start for s in all_sections), default=None)
        lead = [ln for ln in lines if first is None or ln.no < first]
        if md.paragraph_text(lead):
            yield b.event(
                "memory_consulted",
                md.strip_blank(lead),
                action="context",
                reasoning=md.paragraph_text(lead),
            )


def top_level_key_lines(text: str, first_line: int = 1) -> dict[str, tuple[int, int]]:
    """Line range of each top-level key of a JSON object, for provenance."""
    starts: list[tuple[str, int]] = []
    depth, in_string, escape, line = 0, False, False, first_line
    token_start, token_line = -1, line
    end_line = first_line
    for i, ch in enumerate(text):
        if ch == "\n":
            line += 1
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
                if depth == 1:
                    rest = text[i + 1 : i + 40].lstrip()
                    if rest.startswith(":"):
                        starts.append((json.loads(text[token_start : i + 1]), token_line))
            continue
        if ch == '"':
            in_string, token_start, token_line = True, i, line
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                end_line = line
    out = {}
    for n, (key, start) in enumerate(starts):
        stop = starts[n + 1][1] - 1 if n + 1 < len(starts) else max(start, end_line - 1)
        out[key] = (start, max(start, stop))
    return out


def _load_json(doc: SourceDoc, what: str) -> tuple[Any, Rejection | None]:
    try:
        return json.loads(doc.text()), None
    except ValueError as exc:
        return None, Rejection(
            "bad_json",
            f"{what} is not valid JSON ({exc}); fix the file or re-export it",
            doc.data,
            f"lines:{doc.first_line}-{doc.first_line + doc.text().count(chr(10))}",
        )


class StateVariablesFile:
    """`variables.json`: one state_changed per top-level key (execution_metadata, step_data,
    file_paths, extracted_data, cost_tracking)."""

    name = "llmunix.state_variables"
    producer = PRODUCER
    _keys = ("execution_metadata", "step_data", "file_paths", "extracted_data", "cost_tracking")

    def sniff(self, uri: str, head: bytes) -> float:
        if not head.lstrip().startswith(b"{"):
            return 0.0
        hits = sum(1 for k in self._keys if f'"{k}"'.encode() in head)
        score = min(0.3 * hits, 0.8)
        if file_name(uri) == "variables.json":
            score += 0.2
        return score if hits else 0.0

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        data, error = _load_json(doc, "variables.json")
        if error is not None:
            yield error
            return
        if not isinstance(data, dict):
            yield Rejection(
                "schema", "variables.json must hold a JSON object", doc.data, "lines:1-1"
            )
            return
        b = _run(doc, "variables")
        meta = (
            data.get("execution_metadata")
            if isinstance(data.get("execution_metadata"), dict)
            else {}
        )
        if meta.get("execution_id"):
            b.run_id = str(meta["execution_id"])
        ranges = top_level_key_lines(doc.text(), doc.first_line)
        for key, value in data.items():
            where = ranges.get(key, (doc.first_line, doc.first_line))
            if isinstance(value, str) and md.is_placeholder(value):
                yield Rejection(
                    "template",
                    f"variables.json key {key!r} holds a template placeholder ({value!r}); "
                    "fill it in or remove it",
                    json.dumps({key: value}),
                    md.position(*where),
                )
                continue
            attrs: dict[str, Any] = {"variables_key": key}
            cost = None
            if key == "cost_tracking" and isinstance(value, dict):
                for name in ("total_cost", "total_cost_usd", "total", "spent"):
                    if name in value:
                        cost = parse_cost(value[name])
                        break
                attrs["total_cost_usd"] = cost
            yield b.event(
                "state_changed",
                where,
                action=f"variables.{key}",
                state_change={key: value},
                attributes=attrs,
            )


class StateConstraintsFile:
    """`constraints.md` or `constraints.json`: one state_changed with the active constraints."""

    name = "llmunix.state_constraints"
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        text = head.decode("utf-8", "replace").lower()
        hits = sum(1 for k in _CONSTRAINT_KEYS if k in text or k.replace("_", " ") in text)
        score = min(0.2 * hits, 0.7)
        if file_name(uri).startswith("constraints."):
            score += 0.3
        return score if hits >= 2 or score >= 0.5 else 0.0

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        b = _run(doc, "constraints")
        if doc.data.lstrip().startswith(b"{"):
            data, error = _load_json(doc, "constraints.json")
            if error is not None:
                yield error
                return
            end = doc.first_line + doc.text().rstrip().count("\n")
            where: Any = (doc.first_line, end)
            values = {md.norm_key(k): v for k, v in data.items()} if isinstance(data, dict) else {}
        else:
            lines = md.lines_of(doc.text(), doc.first_line)
            kv_list = md.key_values(lines, plain=True)
            for kv in kv_list:
                if md.is_placeholder(kv.text()):
                    yield Rejection(
                        "template",
                        f"constraint {kv.raw_key!r} holds a template placeholder; fill it in",
                        md.raw_text(kv.lines),
                        md.position(*kv.range),
                    )
            kv_list = [kv for kv in kv_list if md.clean_value(kv.text()) is not None]
            values = {kv.key: md.clean_value(kv.text()) for kv in kv_list}
            where = [ln for kv in kv_list for ln in kv.lines]
        if not values:
            yield Rejection(
                "unparseable",
                "no `key: value` constraints found (expected user_sentiment, priority, "
                "max_cost_per_task, error_tolerance, active_persona, ...)",
                doc.data,
                None,
            )
            return
        attrs: dict[str, Any] = dict(values)
        if "max_cost_per_task" in values:
            attrs["max_cost_per_task_usd"] = parse_cost(values["max_cost_per_task"])
        if "error_tolerance" in values and parse_fraction(values["error_tolerance"]) is not None:
            attrs["error_tolerance_fraction"] = parse_fraction(values["error_tolerance"])
        yield b.event(
            "state_changed",
            where,
            action="constraints",
            state_change={"constraints": values},
            attributes=attrs,
        )


DIALECTS = [StateContextFile(), StateVariablesFile(), StateConstraintsFile()]
