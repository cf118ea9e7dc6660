"""Apply the detectors to an event's free text: plain strings, JSON documents (nested and
double-encoded too) and attribute maps, replacing every finding by its placeholder.

A text is scanned as it is first (fast: clean text, the common case, costs one pass per detector
whose trigger occurs). Only when a JSON document has findings is it walked structurally, so each
finding gets its JSON path and a value under a credential-named key is judged by that name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from .detectors import DETECTORS, SECRET, Detector, credential_name, credential_value_ok
from .placeholders import PLACEHOLDER_RE, placeholder, run_key
from .prefilter import flag

# Free-text columns of an event, in the order they are scanned.
TEXT_COLUMNS = ("goal", "action", "reasoning", "error", "source_uri")
JSON_COLUMNS = ("input", "output", "state_change")
MAP_COLUMNS = ("attributes",)
SCRUBBED_COLUMNS = (*TEXT_COLUMNS, *JSON_COLUMNS, *MAP_COLUMNS)


@dataclass(frozen=True)
class Finding:
    """One replaced value: where, what kind, by which detector, and its placeholder."""

    field_path: str
    kind: str
    detector: str
    placeholder: str


class Scrubber:
    """Scrubs the texts of one run (the placeholder key is the run's)."""

    def __init__(self, run_id: str, secret: str = "", detectors: Iterable[Detector] = DETECTORS):
        self.key = run_key(run_id, secret)
        self.only = None if detectors is DETECTORS else frozenset(d.kind for d in detectors)

    # -- plain text ------------------------------------------------------------------------

    def _spans(self, text: str, hits: set[int] | None) -> list[tuple[int, int, Detector]]:
        taken: list[tuple[int, int, Detector]] = []
        if not hits:
            return taken
        guarded = (
            [(m.start(), m.end()) for m in PLACEHOLDER_RE.finditer(text)] if "<" in text else []
        )
        for det in (DETECTORS[i] for i in sorted(hits)):
            if self.only is not None and det.kind not in self.only:
                continue
            for m in det.pattern.finditer(text):
                group = "v" if "v" in m.re.groupindex else 0
                start, end = m.span(group)
                value = m.group(group)
                if start == end:
                    continue
                if det.kind == "credential_field":
                    if not credential_value_ok(m.group("n"), value):
                        continue
                elif det.validate is not None and not det.validate(value):
                    continue
                if any(s < end and start < e for s, e in guarded) or any(
                    s < end and start < e for s, e, _ in taken
                ):
                    continue
                taken.append((start, end, det))
        taken.sort(key=lambda span: span[0])
        return taken

    def text(
        self, text: str, path: str, findings: list[Finding], hits: set[int] | None = ()
    ) -> str:
        """`text` with every finding replaced; the findings are appended to `findings`.
        `hits`: the prefilter's answer for `text` when the caller has it (None: clean)."""
        spans = self._spans(text, flag([text])[0] if hits == () else hits)
        if not spans:
            return text
        out, pos = [], 0
        for start, end, det in spans:
            mark = placeholder(det.category, det.kind, text[start:end], self.key)
            out.append(text[pos:start])
            out.append(mark)
            findings.append(Finding(path, det.kind, det.name, mark))
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def credential(self, name: str, value: str, path: str, findings: list[Finding]) -> str | None:
        """The placeholder for a value held by a credential-named field, or None."""
        if not credential_value_ok(name, value) or PLACEHOLDER_RE.fullmatch(value):
            return None
        kind = "password" if credential_name(name) == "password" else "credential_field"
        mark = placeholder(SECRET, kind, value, self.key)
        findings.append(Finding(path, kind, f"secret.{kind}", mark))
        return mark

    # -- JSON documents --------------------------------------------------------------------

    def json_text(
        self, text: str, path: str, findings: list[Finding], hits: set[int] | None = ()
    ) -> str:
        """A JSON document (or any text in a JSON column) with its findings replaced."""
        raw: list[Finding] = []
        flat = self.text(text, path, raw, hits)
        if not raw:
            return text
        stripped = text.lstrip()
        if stripped[:1] in ("{", "["):
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError:
                doc = None
            if doc is not None:
                walked: list[Finding] = []
                new = self._walk(doc, path, None, walked)
                if walked:
                    findings.extend(walked)
                    return orjson.dumps(new).decode()
                if _parses(flat):
                    findings.extend(raw)
                    return flat
                return text
        findings.extend(raw)
        return flat

    def _walk(self, node: Any, path: str, name: str | None, findings: list[Finding]) -> Any:
        if isinstance(node, dict):
            return {k: self._walk(v, f"{path}.{k}", str(k), findings) for k, v in node.items()}
        if isinstance(node, list):
            return [self._walk(v, f"{path}[{i}]", name, findings) for i, v in enumerate(node)]
        if isinstance(node, str):
            if name is not None:
                mark = self.credential(name, node, path, findings)
                if mark is not None:
                    return mark
            if node.lstrip()[:1] in ("{", "["):  # a JSON document inside a string
                return self.json_text(node, path, findings)
            return self.text(node, path, findings)
        if isinstance(node, int) and not isinstance(node, bool) and abs(node) >= 10**8:
            text = str(node)
            new = self.text(text, path, findings)
            return node if new == text else new
        return node

    # -- attributes ------------------------------------------------------------------------

    def mapping(self, items: list[tuple[str, str]], path: str, findings: list[Finding]):
        out = []
        for key, value in items:
            where = f"{path}.{key}"
            if value is None:
                out.append((key, value))
                continue
            mark = self.credential(key, value, where, findings)
            if mark is None:
                mark = self.json_text(value, where, findings)
            out.append((key, mark))
        return out


def _parses(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def scrub_record(
    record: dict[str, Any], secret: str = "", scrubber: Scrubber | None = None
) -> tuple[dict[str, Any], list[Finding]]:
    """A copy of an event dict with every scrubbed column cleaned, and the findings."""
    scrubber = scrubber or Scrubber(record["run_id"], secret)
    findings: list[Finding] = []
    out = dict(record)
    for column in TEXT_COLUMNS:
        value = record.get(column)
        if value:
            out[column] = scrubber.text(value, column, findings)
    for column in JSON_COLUMNS:
        value = record.get(column)
        if value:
            out[column] = scrubber.json_text(value, column, findings)
    for column in MAP_COLUMNS:
        value = record.get(column)
        if value:
            items = list(value.items()) if isinstance(value, dict) else list(value)
            new = scrubber.mapping(items, column, findings)
            out[column] = dict(new) if isinstance(value, dict) else new
    return out, findings
