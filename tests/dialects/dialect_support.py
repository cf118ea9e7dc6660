"""Helpers for the dialect tests: parse one fixture file through the real normalize step.

(Not a conftest: tests import these names directly.)"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracelake.jobs.ingest import dialects
from tracelake.jobs.ingest.model import SourceDoc
from tracelake.jobs.ingest.normalize import normalize
from tracelake.jobs.ingest.sources import logical_path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LLMUNIX = FIXTURES / "llmunix"
PROJECT = LLMUNIX / "project"


@dataclass
class Parsed:
    dialect: str
    events: list[dict[str, Any]]
    rejected: list[dict[str, Any]]

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event_type"] == event_type]

    def one(self, event_type: str) -> dict[str, Any]:
        found = self.of_type(event_type)
        assert len(found) == 1, f"expected one {event_type}, got {len(found)}"
        return found[0]

    def by_id(self, event_id: str) -> dict[str, Any]:
        return next(e for e in self.events if e["event_id"] == event_id)

    def reasons(self) -> list[str]:
        return [r["reason_code"] for r in self.rejected]


def parse_file(path: Path, expect: str | None = None) -> Parsed:
    """Detect the file's dialect as ingest does, parse and normalise it (validation included)."""
    data = path.read_bytes()
    dialect = dialects.detect(logical_path(str(path)), data[:65536])
    assert dialect is not None, f"no dialect recognised {path}"
    if expect is not None:
        assert dialect.name == expect, f"{path.name} detected as {dialect.name}, not {expect}"
    doc = SourceDoc(str(path), data)
    batch = normalize(dialect.parse(doc), dialect, doc, "test-batch")
    events = batch.events.to_pylist()
    for e in events:
        e["attributes"] = dict(e["attributes"] or {})
    return Parsed(dialect.name, events, batch.quarantine.to_pylist())


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def text_at(uri: str, position: str) -> str:
    """The source text a `lines:A-B` position points at."""
    assert position.startswith("lines:"), position
    start, end = (int(x) for x in position.removeprefix("lines:").split("-"))
    lines = Path(uri).read_text("utf-8").split("\n")
    assert 1 <= start <= end <= len(lines), f"{position} outside {uri} ({len(lines)} lines)"
    return "\n".join(lines[start - 1 : end])
