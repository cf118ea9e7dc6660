"""OTLP/JSON trace files -> bronze events, for current and older GenAI attribute shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracelake.jobs.ingest import dialects
from tracelake.jobs.ingest import job as ingest
from tracelake.jobs.ingest.dialects.otlp import DIALECT
from tracelake.jobs.ingest.model import Rejection, SourceDoc
from tracelake.jobs.lake import catalog

FIXTURES = Path(__file__).parent.parent / "fixtures" / "otel"
CURRENT = FIXTURES / "current_semconv.otlp.json"
OLDER = FIXTURES / "older_semconv.jsonl"

CURRENT_TRACE = "5b8efff798038103d269b633813fc60c"
OLDER_TRACE = "0af7651916cd43dd8448eb211c80319c"


def sid(trace: str, span: str, role: str = "start") -> str:
    return f"otel:{trace}:{span}:{role}"


def stored(ctx, paths: list[Path]) -> tuple[dict[str, dict], list[dict]]:
    result = ingest.run(ctx, [str(p) for p in paths])
    assert result.status == "succeeded", result.message
    events = ctx.lake.read(catalog.BRONZE_EVENTS).to_pylist()
    for event in events:
        event["attributes"] = dict(event["attributes"])  # Arrow maps read back as pairs
    quarantine = ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    return {e["event_id"]: e for e in events}, quarantine


def one(events: dict[str, dict], **match) -> dict:
    found = [e for e in events.values() if all(e[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, [e["event_id"] for e in found])
    return found[0]


def test_detects_both_shapes_by_content():
    for path in (CURRENT, OLDER):
        head = path.read_bytes()[:65536]
        assert dialects.detect(path.name, head).name == DIALECT
        # content decides, not the name
        assert dialects.detect("traces.txt", head).name == DIALECT


def test_current_semconv_run_steps_and_outcome(ctx):
    events, quarantine = stored(ctx, [CURRENT])
    assert quarantine == []
    assert {e["run_id"] for e in events.values()} == {CURRENT_TRACE}
    assert {e["source"] for e in events.values()} == {"otel"}
    assert {e["dialect"] for e in events.values()} == {DIALECT}

    root = "eee19b7ec3c1b174"
    started = events[sid(CURRENT_TRACE, root)]
    assert started["event_type"] == "run_started"
    assert started["goal"] == "Plan a 3-day trip to Lisbon under $800"
    assert (started["component_name"], started["component_version"]) == ("TravelPlanner", "1.3")
    assert started["parent_event_id"] is None
    assert started["attributes"]["gen_ai.conversation.id"] == "conv_42"
    assert started["attributes"]["resource.service.name"] == "travel-agent"

    completed = events[sid(CURRENT_TRACE, root, "end")]
    assert completed["event_type"] == "run_completed"
    assert completed["status"] == "ok"
    assert (completed["tokens_in"], completed["tokens_out"]) == (1022, 199)
    assert completed["latency_ms"] == pytest.approx(3000.0)
    assert completed["parent_event_id"] == started["event_id"]
    assert "Itinerary ready" in json.loads(completed["output"])[0]["parts"][0]["content"]


def test_current_semconv_tool_calls_and_failure(ctx):
    events, _ = stored(ctx, [CURRENT])
    call = one(events, event_type="tool_call", component_name="get_weather")
    assert call["component_kind"] == "tool"
    assert json.loads(call["input"]) == {"city": "Lisbon"}
    assert call["attributes"]["gen_ai.tool.call.id"] == "call_weather_1"
    result = one(events, event_type="tool_result", component_name="get_weather")
    assert result["parent_event_id"] == call["event_id"]
    assert json.loads(result["output"]) == {"forecast": "sunny", "high_c": 24}
    assert (result["status"], result["error"]) == ("ok", None)
    assert result["latency_ms"] == pytest.approx(249.0)

    failed = one(events, event_type="tool_result", component_name="book_flight")
    assert failed["status"] == "error"
    assert failed["error_type"] == "http_503"
    assert failed["error"] == "airline API unavailable"
    assert failed["output"] is None


def test_current_semconv_model_calls_reasoning_and_parentage(ctx):
    events, _ = stored(ctx, [CURRENT])
    root_start = sid(CURRENT_TRACE, "eee19b7ec3c1b174")
    chat = events[sid(CURRENT_TRACE, "a1b2c3d4e5f60002")]
    assert chat["event_type"] == "agent_message"
    assert (chat["tokens_in"], chat["tokens_out"]) == (512, 64)
    assert chat["attributes"]["provider"] == "openai"
    assert chat["attributes"]["model"] == "gpt-4o-2024-08-06"
    assert chat["reasoning"] == "I need the forecast before picking dates."
    roles = [m["role"] for m in json.loads(chat["input"])]
    assert roles == ["system", "user"]
    tool_call_part = json.loads(chat["output"])[0]["parts"][1]
    assert tool_call_part == {
        "type": "tool_call",
        "id": "call_weather_1",
        "name": "get_weather",
        "arguments": {"city": "Lisbon"},
    }

    plan = one(events, event_type="plan_created")
    assert plan["reasoning"].startswith("Weather first")
    created = one(events, event_type="component_created")
    assert (created["component_name"], created["component_version"]) == ("WeatherAgent", "1.0")
    assert created["component_kind"] == "agent"
    memory = one(events, event_type="memory_consulted")
    assert "Porto" in memory["output"]

    # A sub-agent's invoke_agent is a delegation; its own children hang under it.
    delegation = one(events, event_type="delegation")
    assert (delegation["component_name"], delegation["component_version"]) == ("HotelFinder", "2.1")
    assert delegation["parent_event_id"] == root_start
    sub_chat = events[sid(CURRENT_TRACE, "a1b2c3d4e5f60006")]
    assert sub_chat["parent_event_id"] == delegation["event_id"]
    assert sub_chat["attributes"]["provider"] == "anthropic"

    # Every parent exists; order by seq follows time with the run opening and closing it.
    for event in events.values():
        assert event["parent_event_id"] is None or event["parent_event_id"] in events
    ordered = sorted(events.values(), key=lambda e: e["seq"])
    assert ordered[0]["event_type"] == "run_started"
    assert ordered[-1]["event_type"] == "run_completed"
    assert [e["ts"] for e in ordered] == sorted(e["ts"] for e in ordered)
    assert len({e["seq"] for e in ordered}) == len(ordered)


def test_older_semconv_shapes_map_to_the_same_fields(ctx):
    events, quarantine = stored(ctx, [OLDER])
    assert {e["run_id"] for e in events.values()} == {OLDER_TRACE}
    root_start = sid(OLDER_TRACE, "b7ad6b7169203331")

    chat = events[sid(OLDER_TRACE, "00f067aa0ba902b7")]
    assert chat["event_type"] == "agent_message"
    assert (chat["tokens_in"], chat["tokens_out"]) == (120, 30)  # prompt/completion tokens
    assert chat["attributes"]["provider"] == "openai"  # from gen_ai.system
    assert chat["reasoning"] == "The report is a PDF; fetch it first."
    inputs = json.loads(chat["input"])
    assert [m["role"] for m in inputs] == ["system", "user"]
    assert inputs[1]["parts"] == [{"type": "text", "content": "Summarise the Q3 report"}]
    output = json.loads(chat["output"])[0]
    assert output["finish_reason"] == "tool_calls"
    assert output["parts"][-1] == {
        "type": "tool_call",
        "id": "call_fetch",
        "name": "web_fetch",
        "arguments": {"url": "https://example.com/q3.pdf"},
    }
    # The root came in a later request (line 3) than its children (line 1): still linked.
    assert chat["parent_event_id"] == root_start

    # No gen_ai.operation.name: the span name says execute_tool; the error is an exception event.
    result = one(events, event_type="tool_result", component_name="web_fetch")
    assert (result["status"], result["error_type"]) == ("error", "TimeoutError")
    assert result["error"] == "read timed out after 5s"

    started = events[root_start]
    assert started["goal"] == "Summarise the Q3 report"  # from the gen_ai.content.prompt event
    failed = events[sid(OLDER_TRACE, "b7ad6b7169203331", "end")]
    assert failed["event_type"] == "run_failed"
    assert (failed["error"], failed["error_type"]) == ("tool web_fetch failed", "ToolError")

    reasons = {(q["reason_code"], q["source_position"]) for q in quarantine}
    assert reasons == {("bad_json", "line:2"), ("bad_id", "line:1/span:1111111111111111")}
    bad_id = next(q for q in quarantine if q["reason_code"] == "bad_id")
    assert "not-a-trace-id" in bad_id["reason"]
    assert json.loads(bad_id["raw"])["traceId"] == "not-a-trace-id"


def test_provenance_points_at_the_span_text(ctx):
    events, _ = stored(ctx, [CURRENT, OLDER])
    lines = {p: p.read_text().splitlines() for p in (CURRENT, OLDER)}
    for event in events.values():
        path = Path(event["source_uri"])
        position = event["source_position"]
        line_part, span_part = position.split("/")
        line = int(line_part.removeprefix("line:"))
        span_id = span_part.removeprefix("span:")
        assert event["event_id"].split(":")[2] == span_id
        text = "\n".join(lines[path][line - 1 :]) if path == CURRENT else lines[path][line - 1]
        assert f'"spanId": "{span_id}"' in text or f'"spanId":"{span_id}"' in text


def test_reingest_adds_nothing(ctx):
    stored(ctx, [CURRENT, OLDER])
    before = ctx.lake.count(catalog.BRONZE_EVENTS)
    again = ingest.run(ctx, [str(CURRENT), str(OLDER)])
    assert again.rows_out == 0
    assert ctx.lake.count(catalog.BRONZE_EVENTS) == before


def test_events_do_not_depend_on_how_the_trace_is_batched():
    """The file as one request, or each span in its own request: the same events."""
    dialect = dialects.get(DIALECT)
    whole = [e for e in dialect.parse(SourceDoc("t.json", CURRENT.read_bytes()))]
    request = json.loads(CURRENT.read_text())
    scope = request["resourceSpans"][0]["scopeSpans"][0]
    lines = []
    for span in reversed(scope["spans"]):
        single = json.loads(json.dumps(request))
        single["resourceSpans"][0]["scopeSpans"][0]["spans"] = [span]
        lines.append(json.dumps(single))
    split = list(dialect.parse(SourceDoc("t.json", "\n".join(lines).encode())))

    def comparable(items):
        return {
            e.event_id: e.model_dump(exclude={"source_position"})
            for e in items
            if not isinstance(e, Rejection)
        }

    assert comparable(whole) == comparable(split)
    assert len(comparable(whole)) == 12


def test_broken_document_is_one_rejection_and_wrong_shape_is_explained():
    dialect = dialects.get(DIALECT)
    broken = CURRENT.read_bytes()[:5000]
    items = list(dialect.parse(SourceDoc("cut.json", broken)))
    assert len(items) == 1 and items[0].reason_code == "bad_json"
    assert items[0].position.startswith("lines:1-")

    items = list(dialect.parse(SourceDoc("x.json", b'{"resourceSpans": {"not": "a list"}}')))
    assert [(i.reason_code, i.position) for i in items] == [("schema", "line:1")]
    assert "resourceSpans must be a list" in items[0].reason
