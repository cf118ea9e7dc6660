"""Shared by the non-canonical dialects: building event dicts with stable ids, run ids and
provenance, and reading the run identity of an llmunix workspace from neighbouring files.

No DIALECTS here: this module only helps the parsers next to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tracelake.schemas.identity import goal_signature  # noqa: F401  (re-exported for dialects)

from .. import markdown as md
from ..component_names import ComponentRef
from ..model import Rejection, stable_id
from ..units import parse_timestamp

# Formats without timestamps (chat datasets, component definitions) still need `ts`: they get
# this sentinel plus attributes["ts_missing"] = "true", never a wall-clock time (which would
# change the event on every re-ingest).
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Several files of one llmunix run (plan.md, context.md, history.md, ...) share a run_id; each
# file kind numbers its events from its own base so (run_id, seq) stays unique.
SEQ_BASE = {
    "plan": 0,
    "context": 10_000,
    "history": 20_000,
    "variables": 30_000,
    "constraints": 40_000,
    "communication": 50_000,
    "decisions": 60_000,
}


def path_tail(uri: str) -> str:
    """The part of a path that identifies a file inside an llmunix tree, independent of where the
    tree lives: from `projects/<P>/` on when present, else the last three components."""
    parts = [p for p in re.split(r"[/\\]", uri) if p]
    if "projects" in parts:
        index = len(parts) - 1 - parts[::-1].index("projects")
        return "/".join(parts[index:])
    return "/".join(parts[-3:])


def derived_run_id(uri: str, kind: str) -> str:
    """A stable run id for a file that names none: same file (path tail), same id."""
    return f"{kind}-{stable_id(path_tail(uri))[:20]}"


def to_json(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def attr_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return to_json(value)


LinesLike = tuple[int, int] | list[md.Line]


def lines_position(lines: LinesLike) -> str:
    start, end = lines if isinstance(lines, tuple) else md.span(lines)
    return md.position(start, end)


@dataclass
class RunBuilder:
    """Builds the events of one run in order: seq, ts fallback, stable event ids, provenance."""

    run_id: str
    ts: datetime | None = None  # default for events whose text has no time of its own
    seq: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)  # added to every event
    mode: str | None = None

    def event(
        self,
        event_type: str,
        lines: LinesLike,
        *,
        ts: datetime | None = None,
        parent: dict[str, Any] | None = None,
        component: ComponentRef | None = None,
        attributes: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        when = ts or self.ts
        attrs = {**self.attributes, **(attributes or {})}
        if when is None:
            when = EPOCH
            attrs["ts_missing"] = "true"
        event: dict[str, Any] = {
            "run_id": self.run_id,
            "seq": self.seq,
            "ts": when,
            "event_type": event_type,
            "source_position": lines_position(lines),
        }
        if parent is not None:
            event["parent_event_id"] = parent["event_id"]
        if component is not None:
            event["component_name"] = component.name
            if component.kind:
                event["component_kind"] = component.kind
            if component.version:
                event["component_version"] = component.version
            if component.raw != component.name:
                attrs.setdefault("component_raw_name", component.raw)
        if self.mode and "mode" not in fields:
            fields["mode"] = self.mode
        for key in ("input", "output", "state_change"):
            if key in fields:
                fields[key] = (
                    to_json(fields[key]) if fields[key] not in (None, "", {}, []) else None
                )
        event.update({k: v for k, v in fields.items() if v is not None})
        event["attributes"] = {k: t for k, v in attrs.items() if (t := attr_text(v)) is not None}
        event["event_id"] = stable_id(
            self.run_id,
            event["source_position"],
            orjson.dumps(event, option=orjson.OPT_SORT_KEYS, default=str),
        )
        self.seq += 1
        return event


def template_rejection(what: str, lines: LinesLike, raw: str) -> Rejection:
    return Rejection(
        "template",
        f"{what} still holds template placeholders ({raw.strip()[:80]!r}); it is an unfilled "
        "template, not trace data: fill it in or delete it",
        raw,
        lines_position(lines),
    )


def unparseable(what: str, lines: list[md.Line], why: str) -> Rejection:
    return Rejection("unparseable", f"{what}: {why}", md.raw_text(lines), lines_position(lines))


# --- run identity of an llmunix workspace -------------------------------------------------


@dataclass(frozen=True)
class WorkspaceRun:
    execution_id: str | None = None
    start_time: datetime | None = None
    goal: str | None = None


def stray_text(
    lines: list[md.Line], blocks: list[md.Section], all_sections: list[md.Section], why: str
) -> Iterator[Rejection]:
    """A rejection for the non-blank lines outside every parsed block and the title, if any."""
    covered = {ln.no for s in blocks for ln in s.all_lines}
    covered |= {ln.no for s in all_sections if s.level == 1 for ln in s.heading}
    stray = [
        ln for ln in lines if ln.no not in covered and ln.text.strip() and not md.is_rule(ln.text)
    ]
    if stray:
        yield Rejection(
            "unparseable", why, md.raw_text(stray), md.position(stray[0].no, stray[-1].no)
        )


def _metadata_of_markdown(path: Path) -> dict[str, str]:
    lines = md.lines_of(path.read_text("utf-8", errors="replace"))
    return {kv.key: kv.value for kv in md.key_values(lines[:80]) if kv.value}


def _local_path(uri: str) -> Path | None:
    if "://" in uri and not uri.startswith("file://"):
        return None  # object stores: the parser sees one file only
    return Path(uri.removeprefix("file://"))


def workspace_run(uri: str) -> WorkspaceRun:
    """Execution id, start time and goal recorded next to a state file (plan.md, variables.json,
    execution_state.md), so every file of one state directory joins the same run.

    Only local files are looked at; on object stores each file falls back to its own fields."""
    path = _local_path(uri)
    if path is None:
        return WorkspaceRun()
    folder = path.parent
    candidates = [folder, folder / "state", folder / "workspace" / "state"]
    if folder.name == "state":
        candidates.append(folder.parent)
    for base in candidates:
        for name in ("plan.md", "execution_state.md"):
            file = base / name
            if file.is_file():
                meta = _metadata_of_markdown(file)
                exec_id = md.clean_value(meta.get("execution_id"))
                if exec_id:
                    return WorkspaceRun(
                        str(exec_id),
                        parse_timestamp(md.clean_value(meta.get("start_time"))),
                        md.clean_value(meta.get("goal")),  # type: ignore[arg-type]
                    )
        file = base / "variables.json"
        if file.is_file():
            try:
                meta = json.loads(file.read_text("utf-8")).get("execution_metadata") or {}
            except (ValueError, AttributeError):
                continue
            if isinstance(meta, dict) and meta.get("execution_id"):
                return WorkspaceRun(
                    str(meta["execution_id"]),
                    parse_timestamp(meta.get("start_time")),
                    meta.get("goal"),
                )
    return WorkspaceRun()


def looks_like_path(uri: str, *fragments: str) -> bool:
    low = uri.replace("\\", "/").lower()
    return any(f in low for f in fragments)


def file_name(uri: str) -> str:
    return re.split(r"[/\\]", uri)[-1].lower()


def json_records(text: str, first_line: int = 1) -> Iterator[tuple[Any, tuple[int, int], str]]:
    """Objects of a JSON Lines file, a JSON array or a single JSON object, each with its line
    range; a line that is not JSON yields (None, range, error message)."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except ValueError as exc:
            yield None, (first_line, first_line + text.count("\n")), f"not valid JSON: {exc}"
            return
        ranges = array_item_lines(text, first_line)
        for n, item in enumerate(items):
            yield item, ranges[n] if n < len(ranges) else (first_line, first_line), ""
        return
    lines = text.split("\n")
    if stripped.startswith("{") and len(lines) > 1:
        try:
            whole = json.loads(text)
            yield whole, (first_line, first_line + len(text.rstrip().split("\n")) - 1), ""
            return
        except ValueError:
            pass  # JSON Lines
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            yield json.loads(line), (first_line + n, first_line + n), ""
        except ValueError as exc:
            yield None, (first_line + n, first_line + n), f"not valid JSON: {exc}"


def array_item_lines(text: str, first_line: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    depth, in_string, escape, line, start = 0, False, False, first_line, None
    for ch in text:
        if ch == "\n":
            line += 1
            continue
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
            if depth == 1 and start is None:
                start = line
        elif ch in "{[":
            depth += 1
            if depth == 2 and start is None:
                start = line
        elif ch in "}]":
            depth -= 1
            if depth == 1 and start is not None:
                out.append((start, line))
                start = None
        elif depth == 1 and ch == "," and start is not None:
            out.append((start, line))
            start = None
        elif depth == 1 and ch != "," and not ch.isspace() and start is None:
            start = line
    return out
