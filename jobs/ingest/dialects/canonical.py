"""Canonical events: tracelake's own JSONL, one AgentEvent per line (trace-sources.md A)."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from pydantic import ValidationError
from tracelake.schemas import MAX_EVENT_BYTES, REQUIRED_FIELDS, AgentEvent

from ..model import Rejection, SourceDoc

_validate_json = AgentEvent.__pydantic_validator__.validate_json


def explain(exc: ValidationError, line: bytes) -> Rejection:
    """Turn a validation error into the most specific reason we can give."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as bad:
            return Rejection(
                "bad_utf8",
                f"line is not valid UTF-8 (byte {bad.start}); re-encode the file as UTF-8",
                line,
            )
        return Rejection("bad_json", f"not valid JSON: {first['msg']}", line)
    if first["type"] == "model_type":
        return Rejection(
            "schema", "line is JSON but not an object; expected one event per line", line
        )
    for err in errors:
        if tuple(err["loc"]) == ("event_type",) and err["type"] == "value_error":
            return Rejection(
                "unknown_event_type", str(err["msg"]).removeprefix("Value error, "), line
            )
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing"]
    if missing:
        return Rejection(
            "schema",
            f"missing required field(s): {', '.join(missing)} (required: {', '.join(REQUIRED_FIELDS)})",
            line,
        )
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(record)"
        parts.append(f"{where}: {err['msg']}")
    return Rejection("schema", "invalid field(s): " + "; ".join(parts), line)


class CanonicalJsonl:
    name = "canonical"
    producer = "tracelake"

    def sniff(self, uri: str, head: bytes) -> float:
        first = head.lstrip()[:1]
        if first != b"{":
            return 0.0
        line = head.lstrip().split(b"\n", 1)[0]
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return 0.4 if b'"event_type"' in line and b'"run_id"' in line else 0.0
        if isinstance(obj, dict) and {"event_id", "run_id", "event_type"} <= obj.keys():
            return 0.95
        return 0.0

    def parse(self, doc: SourceDoc) -> Iterator[AgentEvent | Rejection]:
        max_bytes = MAX_EVENT_BYTES
        for lineno, line in enumerate(doc.data.split(b"\n"), start=doc.first_line):
            if not line.strip():
                continue
            position = f"line:{lineno}"
            if len(line) > max_bytes:
                yield Rejection(
                    "oversize",
                    f"record is {len(line)} bytes, over the {max_bytes}-byte limit; "
                    "store large payloads elsewhere and reference them",
                    line,
                    position,
                )
                continue
            try:
                event = _validate_json(line)
            except ValidationError as exc:
                r = explain(exc, line)
                yield Rejection(r.reason_code, r.reason, r.raw, position)
                continue
            if event.source_uri is None or event.source_position is None:
                event = event.model_copy(
                    update={
                        "source_uri": event.source_uri or doc.uri,
                        "source_position": event.source_position or position,
                    }
                )
            yield event


DIALECTS = [CanonicalJsonl()]
