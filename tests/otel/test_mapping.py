"""Span -> event rules that the fixture files do not exercise on their own."""

from __future__ import annotations

import json

import pytest

from tracelake.jobs.ingest.model import Rejection
from tracelake.jobs.ingest.otel_mapping import Span, SpanEvent, map_span

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1_767_225_600_000_000_000


def span(span_id="00f067aa0ba902b7", parent="", name="chat gpt-4o", attrs=None, events=(), **kw):
    return Span(
        trace_id=kw.pop("trace_id", TRACE),
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=1,
        start_ns=kw.pop("start_ns", T0),
        end_ns=kw.pop("end_ns", T0 + 250_000_000),
        attributes=attrs or {},
        events=tuple(events),
        **kw,
    )


def events_of(s: Span):
    result = map_span(s, dialect="otel.test", source_uri="mem://")
    assert not isinstance(result, Rejection), result
    return result


def test_current_and_older_chat_shapes_give_the_same_fields():
    current = span(
        attrs={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 3,
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "finish_reason": "stop",
                        "parts": [
                            {"type": "reasoning", "content": "greet back"},
                            {"type": "text", "content": "hello"},
                        ],
                    }
                ]
            ),
        }
    )
    older = span(
        attrs={
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.usage.prompt_tokens": 10,
            "gen_ai.usage.completion_tokens": 3,
        },
        events=[
            SpanEvent("gen_ai.user.message", T0, {"content": "hi"}),
            SpanEvent(
                "gen_ai.choice",
                T0,
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": json.dumps(
                        {"role": "assistant", "content": "hello", "reasoning_content": "greet back"}
                    ),
                },
            ),
        ],
    )
    (new,), (old,) = events_of(current), events_of(older)
    for name in ("event_type", "input", "output", "reasoning", "tokens_in", "tokens_out", "status"):
        assert getattr(new, name) == getattr(old, name), name
    assert new.attributes["provider"] == old.attributes["provider"] == "openai"


def test_flattened_prompt_attributes_are_messages():
    (event,) = events_of(
        span(
            attrs={
                "gen_ai.operation.name": "chat",
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": "what is 2+2?",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "4",
            }
        )
    )
    assert json.loads(event.input) == [
        {"role": "user", "parts": [{"type": "text", "content": "what is 2+2?"}]}
    ]
    assert json.loads(event.output)[0]["parts"] == [{"type": "text", "content": "4"}]
    assert not any(k.startswith("gen_ai.prompt.") for k in event.attributes)


def test_operations_without_a_core_event_type():
    def etype(op, parent="b7ad6b7169203331"):
        attrs = {"gen_ai.operation.name": op} if op else {"http.method": "GET"}
        return events_of(span(parent=parent, name=op or "GET /x", attrs=attrs))[0].event_type

    assert etype("search_memory") == "memory_consulted"
    assert etype("create_memory") == "learning_recorded"
    assert etype("embeddings") == "x-gen_ai.embeddings"
    assert etype("Re Rank!") == "x-gen_ai.re_rank"
    assert etype(None) == "x-otel.span"  # kept so the span tree stays connected
    assert etype("invoke_workflow", parent="") == "run_started"
    assert etype("invoke_agent") == "delegation"


def test_unmappable_spans_are_rejected_with_a_reason():
    cases = {
        "bad_id": span(trace_id="", span_id="00f067aa0ba902b7"),
        "bad_id ": span(span_id="0000000000000000"),
        "bad_id  ": span(parent="xyz"),
        "bad_timestamp": span(start_ns=0),
    }
    for code, s in cases.items():
        result = map_span(s, dialect="otel.test", source_uri="mem://")
        assert isinstance(result, Rejection)
        assert result.reason_code == code.strip()
    oversize = span(
        attrs={"gen_ai.operation.name": "chat", "gen_ai.output.messages": "x" * 1_100_000}
    )
    assert map_span(oversize, dialect="d", source_uri="u").reason_code == "oversize"


def test_span_without_end_time_keeps_start_and_no_latency():
    tool = span(
        name="execute_tool f",
        parent="b7ad6b7169203331",
        end_ns=0,
        attrs={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "f"},
    )
    call, result = events_of(tool)
    assert result.ts == call.ts and result.latency_ms is None
    assert result.seq > call.seq


@pytest.mark.parametrize("events", [True, 7, "x", {"name": "e"}])
def test_a_span_whose_events_are_not_a_list_is_rejected_not_raised(events):
    from tracelake.jobs.ingest.dialects.otlp import decode_request

    span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "s", "events": events}
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    (out,) = decode_request(body)
    assert isinstance(out, Rejection)
    assert "events must be a list" in out.reason
