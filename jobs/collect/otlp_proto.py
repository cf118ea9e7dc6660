"""OTLP protobuf <-> the shared Span model: decode ExportTraceServiceRequest bodies and encode
ExportTraceServiceResponse answers (protobuf or OTLP/JSON, matching the request)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from ..ingest.otel_mapping import OtlpDecodeError, Span, SpanEvent


def any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which)


def _attributes(items: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in items}


def _raw(span: Any) -> bytes:
    """A span as OTLP/JSON text for quarantine (hex ids, as a person would grep for them)."""
    body = MessageToDict(span)
    for key, field in (
        ("traceId", "trace_id"),
        ("spanId", "span_id"),
        ("parentSpanId", "parent_span_id"),
    ):
        if getattr(span, field):
            body[key] = getattr(span, field).hex()
    return orjson.dumps(body)


def decode_request(body: bytes) -> Iterator[Span]:
    """Spans of a protobuf ExportTraceServiceRequest; OtlpDecodeError if it does not parse."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise OtlpDecodeError(f"body is not a protobuf ExportTraceServiceRequest: {exc}") from None
    ordinal = 0
    for rs in request.resource_spans:
        resource = _attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                yield Span(
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(),
                    name=span.name,
                    kind=int(span.kind),
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    attributes=_attributes(span.attributes),
                    events=tuple(
                        SpanEvent(e.name, e.time_unix_nano, _attributes(e.attributes))
                        for e in span.events
                    ),
                    status_code=int(span.status.code),
                    status_message=span.status.message,
                    resource=resource,
                    scope=ss.scope.name,
                    ordinal=ordinal,
                    raw=lambda span=span: _raw(span),
                )
                ordinal += 1


def encode_response(rejected_spans: int, error_message: str, as_json: bool) -> bytes:
    """ExportTraceServiceResponse; partial_success is set only when spans were rejected."""
    response = ExportTraceServiceResponse()
    if rejected_spans:
        response.partial_success.rejected_spans = rejected_spans
        response.partial_success.error_message = error_message
    if as_json:
        return orjson.dumps(MessageToDict(response))
    return response.SerializeToString()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_status(code: int, message: str, as_json: bool) -> bytes:
    """google.rpc.Status, the body OTLP/HTTP prescribes for error answers. Encoded by hand (field
    1 code, field 2 message) so the receiver needs opentelemetry-proto only, not googleapis."""
    if as_json:
        return orjson.dumps({"code": code, "message": message})
    text = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text
