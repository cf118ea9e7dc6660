"""OTLP/JSON trace files (docs/trace-formats.md C): the JSON encoding of ExportTraceServiceRequest,
as collectors' file exporters write it, one request per file or one per line.

The decoder (`decode_request`) is shared with the live collector's JSON endpoint. It follows the
OTLP/JSON rules (hex ids, lowerCamelCase keys, int64 as strings, enums as integers) and is
tolerant where real files drift: snake_case keys, enum names, base64 ids, and the pre-1.0
`instrumentationLibrarySpans` nesting.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Any

import orjson

from ..model import Rejection, SourceDoc
from ..otel_mapping import (
    PRODUCER,
    STATUS_ERROR,
    STATUS_OK,
    STATUS_UNSET,
    OtlpDecodeError,
    Span,
    SpanEvent,
    map_spans,
)

DIALECT = "otel.otlp_json"
_HEX = re.compile(r"^[0-9a-fA-F]*$")
_STATUS_NAMES = {
    "STATUS_CODE_UNSET": STATUS_UNSET,
    "STATUS_CODE_OK": STATUS_OK,
    "STATUS_CODE_ERROR": STATUS_ERROR,
}


def _camel_to_snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def _get(obj: dict[str, Any], key: str, default: Any = None) -> Any:
    """A field by its lowerCamelCase name or its proto (snake_case) name."""
    if key in obj:
        return obj[key]
    return obj.get(_camel_to_snake(key), default)


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = _get(obj, key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpDecodeError(f"{where}.{key} must be a list, not {type(value).__name__}")
    return value


def _number(found: Any, kind: type, key: str) -> Any:
    """`found` as int or float; a value of another shape (a list, "abc", a float in an
    intValue) makes the request malformed, never a crash."""
    if isinstance(found, bool) or not isinstance(found, str | int | float):
        raise OtlpDecodeError(f"{key} {found!r:.40} is not a number")
    try:
        return kind(found)
    except (TypeError, ValueError, OverflowError):
        raise OtlpDecodeError(f"{key} {found!r:.40} is not a number") from None


def any_value(value: Any) -> Any:
    """An OTLP/JSON AnyValue -> a Python value (plain values pass through)."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "boolValue", "doubleValue", "bytesValue"):
        found = _get(value, key)
        if found is not None:
            return _number(found, float, key) if key == "doubleValue" else found
    found = _get(value, "intValue")
    if found is not None:
        return _number(found, int, "intValue")
    array = _get(value, "arrayValue")
    if isinstance(array, dict):
        return [any_value(v) for v in array.get("values") or []]
    kvlist = _get(value, "kvlistValue")
    if isinstance(kvlist, dict):
        return attributes(kvlist.get("values") or [])
    return None


def attributes(items: Any) -> dict[str, Any]:
    """OTLP/JSON KeyValue list -> dict. A plain JSON object is accepted as is."""
    if isinstance(items, dict):
        return {str(k): any_value(v) for k, v in items.items()}
    if not isinstance(items, list):
        raise OtlpDecodeError(f"attributes must be a list of {{key, value}}, not {items!r:.80}")
    out: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or "key" not in item:
            raise OtlpDecodeError(f"attribute {item!r:.80} has no key")
        out[str(item["key"])] = any_value(item.get("value"))
    return out


def hex_id(value: Any, size: int) -> str:
    """An id as lowercase hex. OTLP/JSON writes hex; generic protobuf JSON writes base64."""
    if value is None or value == "":
        return ""
    text = str(value)
    if _HEX.match(text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text  # left as is; the mapper rejects it with the value in the reason
    return raw.hex() if len(raw) == size else text


def _int(value: Any, default: int = 0) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise OtlpDecodeError(f"{value!r:.40} is not an integer") from None


def _status_code(value: Any) -> int:
    if isinstance(value, str) and value in _STATUS_NAMES:
        return _STATUS_NAMES[value]
    return _int(value)


def _kind(value: Any) -> int:
    if isinstance(value, str) and value.startswith("SPAN_KIND_"):
        names = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
        suffix = value.removeprefix("SPAN_KIND_")
        return names.index(suffix) if suffix in names else 0
    return _int(value)


def _raw_json(raw: Any) -> bytes:
    """A decoded span as JSON again, for quarantine; values orjson cannot write (integers
    beyond 64 bits from another decoder) are written as text."""
    try:
        return orjson.dumps(raw)
    except TypeError:
        return json.dumps(raw, default=str).encode()


def _span(
    raw: Any, resource: dict[str, Any], scope: str, where: str, ordinal: int
) -> Span | Rejection:
    position = f"{where}record:{ordinal}"
    if not isinstance(raw, dict):
        return Rejection("schema", "span is not a JSON object", _raw_json(raw), position)
    try:
        status = _get(raw, "status") or {}
        span_events = tuple(
            SpanEvent(
                name=str(_get(e, "name", "")),
                time_ns=_int(_get(e, "timeUnixNano")),
                attributes=attributes(_get(e, "attributes", [])),
            )
            for e in _list(raw, "events", "span")
            if isinstance(e, dict)
        )
        return Span(
            trace_id=hex_id(_get(raw, "traceId"), 16),
            span_id=hex_id(_get(raw, "spanId"), 8),
            parent_span_id=hex_id(_get(raw, "parentSpanId"), 8),
            name=str(_get(raw, "name", "")),
            kind=_kind(_get(raw, "kind")),
            start_ns=_int(_get(raw, "startTimeUnixNano")),
            end_ns=_int(_get(raw, "endTimeUnixNano")),
            attributes=attributes(_get(raw, "attributes", [])),
            events=span_events,
            status_code=_status_code(_get(status, "code")) if isinstance(status, dict) else 0,
            status_message=str(_get(status, "message", "")) if isinstance(status, dict) else "",
            resource=resource,
            scope=scope,
            where=where,
            ordinal=ordinal,
            raw=lambda: _raw_json(raw),
        )
    except OtlpDecodeError as exc:
        return Rejection("schema", f"span fields are malformed: {exc}", _raw_json(raw), position)


def decode_request(obj: Any, where: str = "") -> Iterator[Span | Rejection]:
    """Spans of one ExportTraceServiceRequest (decoded JSON). A malformed span is a Rejection;
    a request whose outer shape is wrong raises OtlpDecodeError."""
    if not isinstance(obj, dict):
        raise OtlpDecodeError(
            f"expected a JSON object (ExportTraceServiceRequest), got {type(obj).__name__}"
        )
    ordinal = 0
    for rs in _list(obj, "resourceSpans", "request"):
        if not isinstance(rs, dict):
            raise OtlpDecodeError("resourceSpans items must be objects")
        resource_obj = _get(rs, "resource") or {}
        resource = attributes(_get(resource_obj, "attributes", []))
        scopes = _list(rs, "scopeSpans", "resourceSpans[]") or _list(
            rs, "instrumentationLibrarySpans", "resourceSpans[]"
        )
        for ss in scopes:
            if not isinstance(ss, dict):
                raise OtlpDecodeError("scopeSpans items must be objects")
            scope_obj = _get(ss, "scope") or _get(ss, "instrumentationLibrary") or {}
            scope = str(scope_obj.get("name", "")) if isinstance(scope_obj, dict) else ""
            for raw in _list(ss, "spans", "scopeSpans[]"):
                yield _span(raw, resource, scope, where, ordinal)
                ordinal += 1


def _is_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


class OtlpJsonFile:
    name = DIALECT
    producer = PRODUCER

    def sniff(self, uri: str, head: bytes) -> float:
        start = head.lstrip()[:1]
        if start != b"{":
            return 0.0
        if b'"resourceSpans"' in head or b'"resource_spans"' in head:
            return 0.95
        lowered = uri.lower()
        if b'"traceId"' in head and ("otlp" in lowered or "otel" in lowered):
            return 0.5
        return 0.0

    def parse(self, doc: SourceDoc) -> Iterator[Any]:
        data = doc.data
        try:  # one request in the file, possibly pretty-printed
            requests = [(orjson.loads(data), doc.first_line)]
        except orjson.JSONDecodeError:
            requests = None
        if requests is None:
            yield from self._parse_lines(doc)
            return
        yield from self._requests(doc, requests)

    def _parse_lines(self, doc: SourceDoc) -> Iterator[Any]:
        lines = [
            (lineno, line)
            for lineno, line in enumerate(doc.data.split(b"\n"), start=doc.first_line)
            if line.strip()
        ]
        if lines and not _is_json(lines[0][1]):
            # Not JSON lines but one broken (pretty-printed) document: one rejection, not one
            # per line of it.
            last = lines[-1][0]
            yield Rejection(
                "bad_json",
                "file is neither one JSON document nor JSON lines; re-export it from the "
                "collector's file exporter",
                doc.data,
                f"lines:{lines[0][0]}-{last}",
            )
            return
        for lineno, line in lines:
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield Rejection(
                    "bad_json",
                    f"line is not valid JSON ({exc}); each line must be one "
                    "ExportTraceServiceRequest",
                    line,
                    f"line:{lineno}",
                )
                continue
            yield from self._requests(doc, [(obj, lineno)])

    def _requests(self, doc: SourceDoc, requests: list[tuple[Any, int]]) -> Iterator[Any]:
        for obj, lineno in requests:
            where = f"line:{lineno}/"
            try:
                spans = list(decode_request(obj, where))
            except OtlpDecodeError as exc:
                yield Rejection(
                    "schema",
                    f"not an OTLP ExportTraceServiceRequest: {exc}",
                    orjson.dumps(obj),
                    f"line:{lineno}",
                )
                continue
            yield from map_spans(spans, dialect=self.name, source_uri=doc.uri).items


DIALECTS = [OtlpJsonFile()]
