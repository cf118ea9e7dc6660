"""OpenTelemetry GenAI spans -> AgentEvents (docs/trace-formats.md section C).

Shared by the OTLP/JSON file dialect and the live OTLP/HTTP collector. Decoders (JSON or
protobuf) turn their input into `Span`s; `map_spans` turns each span into events on its own,
without looking at other spans. That is deliberate: a live receiver sees a trace in pieces
(children are exported before their parents, batches split traces), and a collector may resend
a batch. Because every field of an event is a function of its span alone, the same span yields
byte-identical events whichever way and however often it arrives, so the writer's dedupe by
event_id makes re-delivery harmless.

Consequences of that rule, documented in docs/otel-mapping.md:
  - event ids are `otel:<trace id>:<span id>:<role>`, role `start` (the span's opening event)
    or `end` (its closing event: tool_result, run_completed/run_failed);
  - parent_event_id of a span's opening event is its parent span's `start` event, whatever
    that parent turns out to be;
  - seq orders events by time, not by a dense counter (see `seq_for`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from tracelake.schemas import MAX_EVENT_BYTES, AgentEvent

from .model import Rejection
from .reasons import code_for

PRODUCER = "otel"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")

# Operations whose spans open a run (when they are the trace's root) or delegate (otherwise).
RUN_OPERATIONS = frozenset({"invoke_agent", "invoke_workflow"})
MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
KNOWN_OPERATIONS = (
    RUN_OPERATIONS
    | MODEL_OPERATIONS
    | {
        "create_agent",
        "execute_tool",
        "plan",
        "retrieval",
        "embeddings",
    }
)
# Memory operations are not standardised yet; SDKs name them `search_memory`, `memory.add`...
_MEMORY_WRITE = re.compile(r"(create|add|store|save|update|write|upsert|insert)")

# Older per-message span events (semconv <= 1.28 and many SDKs still).
MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"
PROMPT_EVENT, COMPLETION_EVENT = "gen_ai.content.prompt", "gen_ai.content.completion"

# Attributes moved into event fields (input/output/reasoning) rather than kept as attributes.
_CONTENT_ATTRIBUTES = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.prompt",
        "gen_ai.completion",
    }
)
_FLAT_MESSAGE = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(.+)$")

# Ordering of events that share a microsecond: a run opens before its steps, a step's result
# follows its call, and the run closes last.
RANK_RUN_START, RANK_OPEN, RANK_CLOSE, RANK_RUN_END = 0, 1, 2, 3
RANKS = 4


class OtlpDecodeError(ValueError):
    """The input is not an OTLP ExportTraceServiceRequest (wrong shape, bad JSON, bad protobuf)."""


@dataclass(frozen=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Span:
    """One span, decoded from OTLP/JSON or protobuf; ids are lowercase hex ("" when absent)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: tuple[SpanEvent, ...] = ()
    status_code: int = STATUS_UNSET
    status_message: str = ""
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    where: str = ""  # position prefix from the decoder, e.g. "line:3/"
    ordinal: int = 0  # index of the span in its request, for spans without a usable id
    raw: Callable[[], bytes] = field(default=lambda: b"", repr=False, compare=False)

    @property
    def position(self) -> str:
        if _SPAN_ID.match(self.span_id):
            return f"{self.where}span:{self.span_id}"
        return f"{self.where}record:{self.ordinal}"


@dataclass
class MappedSpans:
    """Events and rejections of a group of spans, with the per-span counts a receiver reports."""

    items: list[AgentEvent | Rejection] = field(default_factory=list)
    spans: int = 0
    rejected_spans: int = 0
    first_rejection: str | None = None

    def add(self, result: list[AgentEvent] | Rejection) -> None:
        self.spans += 1
        if isinstance(result, Rejection):
            self.rejected_spans += 1
            self.first_rejection = self.first_rejection or result.reason
            self.items.append(result)
        else:
            self.items.extend(result)


def event_id(trace_id: str, span_id: str, role: str) -> str:
    return f"otel:{trace_id}:{span_id}:{role}"


def ts_from_ns(ns: int) -> datetime:
    return EPOCH + timedelta(microseconds=ns // 1000)


# The latest span time accepted: seq_for stays within int64 (2500-01-01T00:00:00Z).
MAX_SPAN_NS = 16_725_225_600 * 10**9


def seq_for(ns: int, rank: int) -> int:
    """Order key within the run: microseconds since the epoch, times RANKS, plus the rank.

    A dense 0..n counter would need the whole trace at once, which a live receiver never has;
    this key sorts the same as "by time, then run start < step < result < run end" and is the
    same for a span however it is batched. It fits int64 until the year 2500.
    """
    return (ns // 1000) * RANKS + rank


# -- attribute values --------------------------------------------------------------------------


def attribute_text(value: Any) -> str:
    """An attribute value as the text stored in AgentEvent.attributes."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value, default=str).decode()


def _json_text(value: Any) -> str | None:
    """Value as JSON text for AgentEvent.input/output; strings that hold JSON stay as they are."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError:
            return orjson.dumps(value).decode()
        return value
    return orjson.dumps(value, default=str).decode()


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


# -- messages ----------------------------------------------------------------------------------


def _text_of(content: Any) -> list[dict[str, Any]]:
    """Older `content` (a string, or a list of {type: text, text}) -> text parts."""
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, list):
        parts = []
        for item in content:
            if isinstance(item, dict) and item.get("type") in ("text", "output_text", None):
                text = item.get("text", item.get("content"))
                if text is not None:
                    parts.append({"type": "text", "content": text})
            elif isinstance(item, str):
                parts.append({"type": "text", "content": item})
            else:
                parts.append(item)
        return parts
    return [{"type": "text", "content": attribute_text(content)}]


def _tool_call_part(call: Any) -> dict[str, Any]:
    if not isinstance(call, dict):
        return {"type": "tool_call", "arguments": call}
    function = call.get("function") if isinstance(call.get("function"), dict) else {}
    return {
        "type": "tool_call",
        "id": call.get("id"),
        "name": call.get("name", function.get("name")),
        "arguments": _maybe_json(call.get("arguments", function.get("arguments"))),
    }


def normalize_message(message: Any, default_role: str | None = None) -> dict[str, Any]:
    """Any message shape (current `parts`, older `content`/`tool_calls`) -> {role, parts, ...}."""
    if not isinstance(message, dict):
        return {"role": default_role, "parts": _text_of(message)}
    if isinstance(message.get("message"), dict):  # gen_ai.choice body: {index, message, ...}
        inner = normalize_message(message["message"], default_role or "assistant")
        if message.get("finish_reason") is not None:
            inner["finish_reason"] = message["finish_reason"]
        return inner
    role = message.get("role") or default_role
    if isinstance(message.get("parts"), list):
        parts = [
            p if isinstance(p, dict) else {"type": "text", "content": p} for p in message["parts"]
        ]
    else:
        parts = []
        reasoning = message.get("reasoning_content", message.get("reasoning"))
        if reasoning:
            parts.append({"type": "reasoning", "content": reasoning})
        content = message.get("content")
        call_id = message.get("tool_call_id", message.get("id"))
        if role == "tool" and call_id is not None:
            parts.append({"type": "tool_call_response", "id": call_id, "response": content})
        else:
            parts.extend(_text_of(content))
        for call in _maybe_json(message.get("tool_calls")) or []:
            parts.append(_tool_call_part(call))
        if isinstance(message.get("function_call"), dict):
            parts.append(_tool_call_part(message["function_call"]))
    out: dict[str, Any] = {"role": role, "parts": parts}
    for key in ("name", "finish_reason"):
        if message.get(key) is not None:
            out[key] = message[key]
    return out


def _message_list(value: Any, default_role: str | None = None) -> list[dict[str, Any]]:
    value = _maybe_json(value)
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    return [normalize_message(m, default_role) for m in value]


def _event_body(event: SpanEvent) -> dict[str, Any]:
    """The message carried by an older per-message span event."""
    attrs = event.attributes
    body = _maybe_json(attrs.get("gen_ai.event.content"))
    if isinstance(body, dict):
        return body
    return {k: _maybe_json(v) for k, v in attrs.items() if k not in ("gen_ai.system",)}


def _flattened(attrs: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """OpenLLMetry-style `gen_ai.prompt.0.role` / `gen_ai.prompt.0.content` attributes."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        match = _FLAT_MESSAGE.match(key)
        if match and match.group(1) == kind:
            found.setdefault(int(match.group(2)), {})[match.group(3)] = value
    return [normalize_message(found[i]) for i in sorted(found)]


def input_messages(span: Span) -> list[dict[str, Any]]:
    attrs = span.attributes
    messages: list[dict[str, Any]] = []
    if attrs.get("gen_ai.system_instructions") is not None:
        instructions = _maybe_json(attrs["gen_ai.system_instructions"])
        parts = instructions if isinstance(instructions, list) else _text_of(instructions)
        messages.append(normalize_message({"role": "system", "parts": parts}))
    if attrs.get("gen_ai.input.messages") is not None:
        return messages + _message_list(attrs["gen_ai.input.messages"])
    for event in span.events:
        if event.name in MESSAGE_EVENTS:
            messages.append(normalize_message(_event_body(event), MESSAGE_EVENTS[event.name]))
        elif event.name == PROMPT_EVENT:
            messages.extend(_message_list(event.attributes.get("gen_ai.prompt"), "user"))
    if not messages and attrs.get("gen_ai.prompt") is not None:
        messages = _message_list(attrs["gen_ai.prompt"], "user")
    return messages or _flattened(attrs, "prompt")


def output_messages(span: Span) -> list[dict[str, Any]]:
    attrs = span.attributes
    if attrs.get("gen_ai.output.messages") is not None:
        return _message_list(attrs["gen_ai.output.messages"], "assistant")
    messages: list[dict[str, Any]] = []
    for event in span.events:
        if event.name == CHOICE_EVENT:
            messages.append(normalize_message(_event_body(event), "assistant"))
        elif event.name == COMPLETION_EVENT:
            messages.extend(_message_list(event.attributes.get("gen_ai.completion"), "assistant"))
    if not messages and attrs.get("gen_ai.completion") is not None:
        messages = _message_list(attrs["gen_ai.completion"], "assistant")
    return messages or _flattened(attrs, "completion")


def _parts_text(messages: list[dict[str, Any]], part_type: str, role: str | None = None) -> str:
    texts = []
    for message in messages:
        if role is not None and message.get("role") != role:
            continue
        for part in message.get("parts", []):
            if part.get("type") == part_type:
                content = part.get("content", part.get("text"))
                if content:
                    texts.append(content if isinstance(content, str) else attribute_text(content))
    return "\n\n".join(texts)


# -- one span -> events ------------------------------------------------------------------------


def operation_of(span: Span) -> str | None:
    """gen_ai.operation.name, or the first word of the span name when it is a known operation
    (`execute_tool get_weather` from SDKs that name spans but omit the attribute)."""
    op = span.attributes.get("gen_ai.operation.name")
    if isinstance(op, str) and op:
        return op
    first = span.name.split(" ", 1)[0]
    return first if first in KNOWN_OPERATIONS else None


def _name_after_op(span: Span, op: str | None) -> str | None:
    if op and span.name.startswith(op + " "):
        return span.name[len(op) + 1 :].strip() or None
    return None


def _custom_type(op: str) -> str:
    slug = re.sub(r"[^a-z0-9_.\-]+", "_", op.lower()).strip("_.-")[:50] or "unknown"
    return f"x-gen_ai.{slug}"


def event_type_for(op: str | None, is_root: bool) -> str:
    if op is None:
        return "x-otel.span"
    if op in RUN_OPERATIONS:
        return "run_started" if is_root else "delegation"
    if op in MODEL_OPERATIONS:
        return "agent_message"
    if op == "execute_tool":
        return "tool_call"
    if op == "create_agent":
        return "component_created"
    if op == "plan":
        return "plan_created"
    if op == "retrieval":
        return "memory_consulted"
    if "memory" in op:
        return "learning_recorded" if _MEMORY_WRITE.search(op) else "memory_consulted"
    return _custom_type(op)


@dataclass(frozen=True)
class _Failure:
    failed: bool
    error: str | None
    error_type: str | None


def _failure(span: Span) -> _Failure:
    error_type = span.attributes.get("error.type")
    message = span.status_message or None
    for event in span.events:
        if event.name == "exception":
            error_type = error_type or event.attributes.get("exception.type")
            message = message or event.attributes.get("exception.message")
    failed = span.status_code == STATUS_ERROR or error_type is not None
    if not failed:
        return _Failure(False, None, None)
    error_type = attribute_text(error_type) if error_type is not None else None
    return _Failure(True, attribute_text(message) if message else error_type, error_type)


def _kept_attributes(span: Span, op: str | None) -> dict[str, str]:
    attrs: dict[str, str] = {
        "otel.trace_id": span.trace_id,
        "otel.span_id": span.span_id,
        "otel.span_name": span.name,
        "otel.span_kind": SPAN_KINDS[span.kind] if 0 <= span.kind < len(SPAN_KINDS) else "",
    }
    if span.parent_span_id:
        attrs["otel.parent_span_id"] = span.parent_span_id
    if span.scope:
        attrs["otel.scope"] = span.scope
    if span.status_message:
        attrs["otel.status_message"] = span.status_message
    for key, value in span.resource.items():
        attrs[f"resource.{key}"] = attribute_text(value)
    for key, value in span.attributes.items():
        if key not in _CONTENT_ATTRIBUTES and not _FLAT_MESSAGE.match(key) and value is not None:
            attrs[key] = attribute_text(value)
    # Normalised names, so readers need not know which semconv generation wrote the span.
    provider = span.attributes.get("gen_ai.provider.name") or span.attributes.get("gen_ai.system")
    if provider:
        attrs["provider"] = attribute_text(provider)
    model = span.attributes.get("gen_ai.response.model") or span.attributes.get(
        "gen_ai.request.model"
    )
    if model:
        attrs["model"] = attribute_text(model)
    if op:
        attrs["operation"] = op
    other = [
        {"name": e.name, "time_unix_nano": e.time_ns, "attributes": e.attributes}
        for e in span.events
        if e.name not in MESSAGE_EVENTS
        and e.name not in (CHOICE_EVENT, PROMPT_EVENT, COMPLETION_EVENT)
    ]
    if other:
        attrs["otel.events"] = orjson.dumps(other, default=str).decode()
    return attrs


def _check_ids(span: Span) -> Rejection | None:
    problems = []
    if not _TRACE_ID.match(span.trace_id) or set(span.trace_id) == {"0"}:
        problems.append(f"trace id {span.trace_id!r} is not 32 hex digits (or is all zeros)")
    if not _SPAN_ID.match(span.span_id) or set(span.span_id) == {"0"}:
        problems.append(f"span id {span.span_id!r} is not 16 hex digits (or is all zeros)")
    if span.parent_span_id and not _SPAN_ID.match(span.parent_span_id):
        problems.append(f"parent span id {span.parent_span_id!r} is not 16 hex digits")
    if problems:
        return Rejection(
            "bad_id",
            "span cannot be placed in a run: "
            + "; ".join(problems)
            + ". OTLP/JSON ids are hex strings; check the exporter.",
            span.raw(),
            span.position,
        )
    if span.start_ns > MAX_SPAN_NS or span.end_ns > MAX_SPAN_NS:
        return Rejection(
            "out_of_range",
            f"span time {max(span.start_ns, span.end_ns)} ns is beyond the year 2500 (the "
            "largest time an event's seq can order); the exporter must send Unix nanoseconds",
            span.raw(),
            span.position,
        )
    if span.start_ns <= 0:
        return Rejection(
            "bad_timestamp",
            "span has no start time (startTimeUnixNano missing or 0); the exporter must set it",
            span.raw(),
            span.position,
        )
    return None


def map_span(span: Span, *, dialect: str, source_uri: str) -> list[AgentEvent] | Rejection:
    """The events of one span, or a Rejection saying why it cannot be stored."""
    bad = _check_ids(span)
    if bad is not None:
        return bad
    attrs = span.attributes
    op = operation_of(span)
    is_root = not span.parent_span_id
    etype = event_type_for(op, is_root)
    failure = _failure(span)
    end_ns = span.end_ns if span.end_ns >= span.start_ns else span.start_ns
    latency_ms = (span.end_ns - span.start_ns) / 1e6 if span.end_ns >= span.start_ns else None
    ins, outs = input_messages(span), output_messages(span)

    agent_name = attrs.get("gen_ai.agent.name")
    tool_name = attrs.get("gen_ai.tool.name")
    if op == "execute_tool":
        component_name, kind = tool_name or _name_after_op(span, op), "tool"
        component_version = attrs.get("gen_ai.tool.version")
    else:
        component_name = agent_name or (
            _name_after_op(span, op) if op in RUN_OPERATIONS or op == "create_agent" else None
        )
        kind = "agent" if component_name else None
        component_version = attrs.get("gen_ai.agent.version")

    start_id = event_id(span.trace_id, span.span_id, "start")
    common: dict[str, Any] = {
        "run_id": span.trace_id,
        "source": PRODUCER,
        "dialect": dialect,
        "source_uri": source_uri,
        "source_position": span.position,
        "component_name": attribute_text(component_name) if component_name else None,
        "component_kind": kind,
        "component_version": attribute_text(component_version) if component_version else None,
        "attributes": _kept_attributes(span, op),
    }
    tokens = {
        "tokens_in": _int(
            attrs.get("gen_ai.usage.input_tokens", attrs.get("gen_ai.usage.prompt_tokens"))
        ),
        "tokens_out": _int(
            attrs.get("gen_ai.usage.output_tokens", attrs.get("gen_ai.usage.completion_tokens"))
        ),
    }
    outcome = {
        "status": "error" if failure.failed else "ok",
        "error": failure.error,
        "error_type": failure.error_type,
        "latency_ms": latency_ms,
    }
    opening: dict[str, Any] = {
        **common,
        "event_id": start_id,
        "parent_event_id": (
            event_id(span.trace_id, span.parent_span_id, "start") if span.parent_span_id else None
        ),
        "seq": seq_for(span.start_ns, RANK_RUN_START if etype == "run_started" else RANK_OPEN),
        "ts": ts_from_ns(span.start_ns),
        "event_type": etype,
        "action": span.name or op,
        "input": _json_text(ins) if ins else None,
        "reasoning": _parts_text(outs, "reasoning") or None,
    }
    closing: dict[str, Any] | None = None

    if etype == "run_started":
        goal = _parts_text(ins, "text", role="user") or attrs.get("gen_ai.workflow.name")
        opening.update(goal=attribute_text(goal) if goal else None, mode="EXECUTION")
        closing = {
            **common,
            "event_type": "run_failed" if failure.failed else "run_completed",
            "rank": RANK_RUN_END,
            "output": _json_text(outs) if outs else None,
            **tokens,
            **outcome,
        }
    elif etype == "tool_call":
        arguments = attrs.get("gen_ai.tool.call.arguments")
        opening["input"] = _json_text(arguments) if arguments is not None else opening["input"]
        result = attrs.get("gen_ai.tool.call.result")
        closing = {
            **common,
            "event_type": "tool_result",
            "rank": RANK_CLOSE,
            "output": _json_text(result) if result is not None else None,
            "action": f"result of {component_name or 'tool'}",
            **outcome,
        }
    else:
        # One event holds the whole step: the span arrives complete, so its outcome is known.
        opening.update(output=_json_text(outs) if outs else None, **tokens, **outcome)

    records = [opening]
    if closing is not None:
        rank = closing.pop("rank")
        closing.update(
            event_id=event_id(span.trace_id, span.span_id, "end"),
            parent_event_id=start_id,
            seq=seq_for(end_ns, rank),
            ts=ts_from_ns(end_ns),
        )
        closing.setdefault("action", span.name or op)
        records.append(closing)
    return _validated(records, span)


def _validated(records: list[dict[str, Any]], span: Span) -> list[AgentEvent] | Rejection:
    size = sum(
        len(r.get(k) or "") for r in records for k in ("input", "output", "reasoning")
    ) + sum(len(k) + len(v) for r in records for k, v in r["attributes"].items())
    if size > MAX_EVENT_BYTES:
        return Rejection(
            "oversize",
            f"span content is about {size} bytes, over the {MAX_EVENT_BYTES}-byte event limit; "
            "record large tool results or messages by reference",
            span.raw(),
            span.position,
        )
    try:
        return [AgentEvent.model_validate(r) for r in records]
    except ValidationError as exc:
        specific = code_for(exc.errors(include_url=False))
        if specific is not None:
            return Rejection(
                specific[0],
                f"span maps to an invalid event: {specific[1]}",
                span.raw(),
                span.position,
            )
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(record)'}: {e['msg']}"
            for e in exc.errors(include_url=False)[:5]
        )
        return Rejection(
            "schema", f"span maps to an invalid event: {where}", span.raw(), span.position
        )


def map_spans(spans: Iterable[Span | Rejection], *, dialect: str, source_uri: str) -> MappedSpans:
    """Events of every span, in input order; decoder rejections pass through as rejected spans."""
    mapped = MappedSpans()
    for span in spans:
        mapped.add(
            span
            if isinstance(span, Rejection)
            else map_span(span, dialect=dialect, source_uri=source_uri)
        )
    return mapped
