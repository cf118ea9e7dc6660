"""llmunix memory logs (docs/trace-formats.md B4): one experience per finished run, in three layouts
(bullet entries, YAML blocks followed by markdown sections, front matter + `## Experience:`
entries). All three are read by one parser: the file is cut at `---` rules and each chunk is
read as YAML or as markdown; a chunk naming an experience starts a new entry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import markdown as md
from ..component_names import resolve
from ..model import Rejection, SourceDoc, stable_id
from ..units import (
    parse_cost,
    parse_duration,
    parse_int,
    parse_outcome,
    parse_timestamp,
)
from ._build import RunBuilder, file_name, path_tail

PRODUCER = "llmunix"
_ID_KEYS = ("experience_id", "experienceid", "exp_id", "id", "experience")
_LEARNING_KEYS = (
    "learnings_or_issues",
    "learnings",
    "key_learnings",
    "lessons",
    "lessons_learned",
    "issues",
    "insights",
)
_LEARNING_SECTIONS = ("key learnings", "learnings", "lessons", "issues", "insights", "what")
_EXPERIENCE_HEADING = re.compile(r"^experience\s*[:#\-\u2013]\s*(\S+)", re.IGNORECASE)
_YAML_LINE = re.compile(r"^[A-Za-z_][\w\-]*\s*:(\s|$)")


@dataclass
class Entry:
    fields: dict[str, Any] = field(default_factory=dict)
    field_lines: dict[str, list[md.Line]] = field(default_factory=dict)
    learnings: list[tuple[str, list[md.Line]]] = field(default_factory=list)
    lines: list[md.Line] = field(default_factory=list)
    layout: str = "bullets"

    def put(self, key: str, value: Any, lines: list[md.Line]) -> None:
        if key not in self.fields:
            self.fields[key] = value
            self.field_lines[key] = lines

    def get(self, *keys: str) -> Any:
        for key in keys:
            value = self.fields.get(key)
            if isinstance(value, str):
                value = md.clean_value(value)
            if value not in (None, "", [], {}):
                return value
        return None

    def lines_of(self, *keys: str) -> list[md.Line]:
        for key in keys:
            if key in self.field_lines:
                return self.field_lines[key]
        return []


def _is_yaml_chunk(chunk: list[md.Line]) -> bool:
    filled = [ln for ln in chunk if ln.text.strip()]
    if not filled or not _YAML_LINE.match(filled[0].text):
        return False
    return not any(ln.text.lstrip().startswith(("#", "**", "- **")) for ln in filled)


def _has_id(data: dict[str, Any]) -> bool:
    return any(md.norm_key(k) in _ID_KEYS for k in data)


def _learning_items(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):
        parts = [p.strip(" -*") for p in value.split("\n") if p.strip(" -*")]
        return parts if len(parts) > 1 else ([value.strip()] if value.strip() else [])
    return []


def _read_markdown_chunk(chunk: list[md.Line], entry: Entry) -> None:
    secs = md.sections(chunk)
    for s in secs:
        heading = _EXPERIENCE_HEADING.match(s.title)
        if heading:
            entry.put("experience_id", heading.group(1), s.heading)
            entry.layout = "sections"
    learning_secs = [
        s
        for s in secs
        if s.level >= 2
        and any(md.title_key(s.title).startswith(md.norm_key(n)) for n in _LEARNING_SECTIONS)
    ]
    in_learning_sec = {ln.no for s in learning_secs for ln in s.body}
    for s in secs:
        if md.title_key(s.title) in ("output_summary", "summary", "result"):
            entry.put("output_summary", md.paragraph_text(s.body), s.all_lines)
            in_learning_sec |= {ln.no for ln in s.body}
    for s in learning_secs:
        for item in md.bullets(s.body):
            entry.learnings.append((item.text, item.lines))
    kvs = md.key_values([ln for ln in chunk if ln.no not in in_learning_sec])
    for kv in kvs:
        if kv.key in _LEARNING_KEYS:
            if kv.items:
                start = 1
                for item in kv.items:
                    line = next((ln for ln in kv.lines[start:] if item in ln.text), kv.lines[0])
                    entry.learnings.append((item, [line]))
            elif kv.value:
                entry.learnings.append((kv.value, kv.lines))
            continue
        if kv.key in ("components_used", "components", "agents_used", "tools_used") and kv.items:
            entry.put(kv.key, kv.items, kv.lines)
        else:
            entry.put(kv.key, kv.text(), kv.lines)


def _entry_starts(chunk: list[md.Line], yaml_data: dict[str, Any] | None) -> bool:
    if yaml_data is not None:
        return _has_id(yaml_data)
    for s in md.sections(chunk):
        if _EXPERIENCE_HEADING.match(s.title):
            return True
    return any(kv.key in _ID_KEYS[:4] for kv in md.key_values(chunk))


class MemoryLog:
    name = "llmunix.memory_log"
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        text = head.decode("utf-8", "replace")
        hits = len(re.findall(r"experience_id|^##\s*Experience\s*:", text, re.I | re.M))
        if not hits:
            return 0.0
        score = 0.6 + 0.05 * min(hits, 4)
        if re.search(r"final_outcome|outcome|learnings", text, re.IGNORECASE):
            score += 0.1
        if "memory" in file_name(uri) or "experience" in file_name(uri):
            score += 0.05
        return min(score, 0.9)

    def parse(self, doc: SourceDoc) -> Iterator[dict[str, Any] | Rejection]:
        lines = md.lines_of(doc.text(), doc.first_line)
        entries: list[Entry] = []
        file_meta: dict[str, Any] = {}
        # A YAML block without an id is the header of the entry whose `## Experience:` follows
        # (third layout), or belongs to the entry before it.
        pending: tuple[dict[str, Any], list[md.Line]] | None = None

        def attach(data: dict[str, Any], chunk: list[md.Line]) -> None:
            if not entries:
                file_meta.update(data)
                return
            entries[-1].lines.extend(chunk)
            for key, value in data.items():
                entries[-1].put(md.norm_key(key), value, chunk)

        for chunk in md.split_on_rules(lines):
            yaml_data = None
            if _is_yaml_chunk(chunk):
                yaml_data, error = md.parse_yaml_mapping(chunk)
                if yaml_data is None:
                    yield Rejection(
                        "unparseable",
                        f"memory entry header is not valid YAML ({error}); fix the block",
                        md.raw_text(chunk),
                        md.position(*md.span(chunk)),
                    )
                    continue
                if not _has_id(yaml_data):
                    if pending is not None:
                        attach(*pending)
                    pending = (yaml_data, chunk)
                    continue
            starts = _entry_starts(chunk, yaml_data)
            if starts:
                entries.append(Entry(lines=[], layout="yaml" if yaml_data else "bullets"))
            if pending is not None:
                attach(*pending)
                pending = None
            if not starts and not entries:
                if all(ln.text.startswith("#") or not ln.text.strip() for ln in chunk):
                    continue  # the file's title
                if md.sections(chunk) and not md.key_values(chunk):
                    continue  # an introduction before the first experience
                yield Rejection(
                    "unparseable",
                    "text before the first experience (no experience_id or "
                    "`## Experience: <id>` found in it)",
                    md.raw_text(chunk),
                    md.position(*md.span(chunk)),
                )
                continue
            entry = entries[-1]
            entry.lines.extend(chunk)
            if yaml_data is not None:
                for key, value in yaml_data.items():
                    entry.put(md.norm_key(key), value, chunk)
            else:
                _read_markdown_chunk(chunk, entry)
        if pending is not None:
            attach(*pending)
        for index, entry in enumerate(entries):
            yield from self._entry_events(doc, entry, index, file_meta)

    def _entry_events(
        self, doc: SourceDoc, entry: Entry, index: int, file_meta: dict[str, Any]
    ) -> Iterator[dict[str, Any] | Rejection]:
        values = [v for k, v in entry.fields.items() if isinstance(v, str) and k not in _ID_KEYS]
        filled = [
            v
            for k, v in entry.fields.items()
            if k not in _ID_KEYS and md.clean_value(v) not in (None, "")
        ]
        if (values and all(md.is_placeholder(v) for v in values)) or not filled:
            yield Rejection(
                "template",
                "memory entry holds only template placeholders; it is not an experience",
                md.raw_text(entry.lines),
                md.position(*md.span(entry.lines)),
            )
            return
        goal = entry.get("primary_goal", "goal", "task", "objective")
        ts = parse_timestamp(entry.get("timestamp", "date", "completed_at", "time"))
        exp_id = entry.get(*_ID_KEYS)
        run_id = (
            str(exp_id)
            if exp_id
            else ("experience-" + stable_id(path_tail(doc.uri), goal, str(ts), index)[:20])
        )
        b = RunBuilder(run_id, ts=ts or parse_timestamp(file_meta.get("timestamp")))
        for key, value in entry.fields.items():
            if isinstance(value, str) and md.is_placeholder(value):
                yield Rejection(
                    "template",
                    f"memory entry {run_id} field {key!r} is a template placeholder ({value!r})",
                    md.raw_text(entry.field_lines[key]),
                    md.position(*md.span(entry.field_lines[key])),
                )
        components_raw = entry.get("components_used", "components", "agents_used", "tools_used")
        if isinstance(components_raw, str):
            components_raw = md.parse_inline_list(components_raw)
        components = [c for c in (resolve(x) for x in components_raw or []) if c]
        comp_lines = entry.lines_of("components_used", "components", "agents_used", "tools_used")
        for component in components:
            yield b.event(
                "component_selected",
                comp_lines or entry.lines,
                component=component,
                action="component used",
            )
        for text, where in entry.learnings:
            if md.is_placeholder(text):
                yield Rejection(
                    "template",
                    "learning is a template placeholder",
                    text,
                    md.position(*md.span(where)),
                )
                continue
            yield b.event("learning_recorded", where, reasoning=text, action="learning")
        outcome_raw = entry.get("final_outcome", "outcome", "status", "result")
        outcome = parse_outcome(outcome_raw)
        if outcome is None:
            yield Rejection(
                "unparseable",
                f"memory entry {run_id} has no recognisable outcome ({outcome_raw!r}); expected "
                "success, success_with_recovery or failure",
                md.raw_text(entry.lines),
                md.position(*md.span(entry.lines)),
            )
            return
        duration = parse_duration(
            entry.get("duration_seconds", "duration", "execution_time", "duration_secs")
        )
        known = {
            "experience_id",
            "primary_goal",
            "goal",
            "final_outcome",
            "outcome",
            "status",
            "timestamp",
            "cost",
            "total_cost",
            "duration_seconds",
            "duration",
            "components_used",
            "output_summary",
            "summary",
        }
        extras = {k: v for k, v in entry.fields.items() if k not in known and v not in (None, "")}
        failed = outcome == "failure"
        yield b.event(
            "run_failed" if failed else "run_completed",
            entry.lines,
            goal=goal,
            output=entry.get("output_summary", "summary", "result_summary"),
            status="error" if failed else "ok",
            cost_usd=parse_cost(entry.get("cost", "total_cost", "cost_usd")),
            latency_ms=duration * 1000 if duration is not None else None,
            error=entry.get("error", "error_notes") if failed else None,
            attributes={
                **{
                    k: v
                    for k, v in extras.items()
                    if not isinstance(v, str) or not md.is_placeholder(v)
                },
                "outcome": outcome,
                "outcome_raw": outcome_raw,
                "components_used": [c.name for c in components] or None,
                "error_count": parse_int(entry.get("error_count")),
                "memory_layout": entry.layout,
                "learnings": len(entry.learnings),
            },
        )


DIALECTS = [MemoryLog()]
