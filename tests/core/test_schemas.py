"""The AgentEvent model is the one source of truth: Arrow and JSON Schema follow from it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema
import pyarrow as pa
import pytest
from pydantic import ValidationError

from tracelake.schemas import EVENT_FIELDS, AgentEvent, EventType
from tracelake.schemas.arrow import BRONZE_EVENTS_SCHEMA, EVENT_SCHEMA
from tracelake.schemas.jsonschema import SCHEMA_FILE, render

FULL_EVENT = {
    "event_id": "evt-1",
    "run_id": "run-1",
    "seq": 3,
    "parent_event_id": "evt-0",
    "ts": "2026-03-01T12:00:00.123456Z",
    "source": "tracelake-simulator",
    "dialect": "canonical",
    "source_uri": "file:///traces/a.jsonl",
    "source_position": "line:4",
    "event_type": "tool_result",
    "component_name": "WebFetcherTool",
    "component_kind": "tool",
    "component_version": "1.1",
    "action": "fetch",
    "input": '{"url": "https://example.com"}',
    "output": '{"status": 403}',
    "state_change": None,
    "reasoning": "the page is the primary source",
    "status": "error",
    "error": "HTTP 403 Forbidden",
    "error_type": "http_403",
    "tokens_in": 120,
    "tokens_out": 40,
    "latency_ms": 812.5,
    "cost_usd": 0.0012,
    "mode": "SIMULATION",
    "goal": None,
    "scenario": None,
    "scenario_level": None,
    "attributes": {"http.status_code": "403"},
    "schema_version": 1,
}


def test_json_schema_file_is_current():
    assert SCHEMA_FILE.read_text() == render(), (
        "schemas/agent_event.schema.json is stale: run `make schema`"
    )


def test_every_field_is_documented_once_in_the_model():
    schema = json.loads(render())
    undocumented = [
        name
        for name, prop in schema["properties"].items()
        if "description" not in prop and "$ref" not in prop and "anyOf" not in prop
    ]
    assert undocumented == []
    assert set(schema["properties"]) == set(EVENT_FIELDS)


def test_pydantic_to_arrow_to_pydantic_round_trip():
    event = AgentEvent.model_validate(FULL_EVENT)
    table = pa.Table.from_pylist([event.model_dump()], schema=EVENT_SCHEMA)
    (row,) = table.to_pylist()
    row["attributes"] = dict(row["attributes"])
    assert AgentEvent.model_validate(row) == event
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert row["ts"] == datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_json_schema_accepts_what_pydantic_accepts_and_rejects_what_it_rejects():
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.validate(FULL_EVENT, schema)
    event = AgentEvent.model_validate(FULL_EVENT)
    jsonschema.validate(json.loads(event.model_dump_json()), schema)
    for broken in (
        {**FULL_EVENT, "seq": -1},
        {k: v for k, v in FULL_EVENT.items() if k != "run_id"},
        {**FULL_EVENT, "component_kind": "robot"},
        {**FULL_EVENT, "extra": 1},
    ):
        with pytest.raises(ValidationError):
            AgentEvent.model_validate(broken)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


def test_bronze_schema_extends_the_event_schema():
    assert BRONZE_EVENTS_SCHEMA.names[: len(EVENT_SCHEMA)] == EVENT_SCHEMA.names
    assert {"content_hash", "batch_id", "ingested_at", "event_date"} <= set(
        BRONZE_EVENTS_SCHEMA.names
    )


@pytest.mark.parametrize("event_type", [e.value for e in EventType] + ["x-custom.thing"])
def test_documented_and_custom_event_types_are_accepted(event_type):
    assert (
        AgentEvent.model_validate({**FULL_EVENT, "event_type": event_type}).event_type == event_type
    )


@pytest.mark.parametrize("bad", ["toolcall", "X-upper", "x-", ""])
def test_unknown_event_types_are_rejected(bad):
    with pytest.raises(ValidationError, match="event_type"):
        AgentEvent.model_validate({**FULL_EVENT, "event_type": bad})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**FULL_EVENT, "event_type": bad}, json.loads(SCHEMA_FILE.read_text()))


def test_timestamps_must_carry_a_timezone_and_are_stored_in_utc():
    with pytest.raises(ValidationError, match="timezone"):
        AgentEvent.model_validate({**FULL_EVENT, "ts": "2026-03-01T12:00:00"})
    event = AgentEvent.model_validate({**FULL_EVENT, "ts": "2026-03-01T14:00:00+02:00"})
    assert event.ts == datetime(2026, 3, 1, 12, tzinfo=UTC)
