"""Component specs: every simulator version has one, the simulator and ingest emit the same
shape, and proposed specs are validated."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from tracelake.jobs.environment.specs import builtin_specs, spec_for
from tracelake.jobs.simulate.catalog import COMPONENTS
from tracelake.jobs.simulate.runs import generate_runs
from tracelake.schemas.component_spec import (
    ComponentSpec,
    argument_problems,
    spec_from_definition,
)


def test_every_simulator_version_has_a_spec_with_the_catalog_rates():
    for comp in COMPONENTS.values():
        for v in comp.versions:
            spec = spec_for(comp.name, v.version)
            assert spec is not None, f"{comp.name}@{v.version}"
            assert {m.error_type: m.rate for m in spec.error_modes} == dict(v.errors)
            assert spec.latency_ms == v.latency_ms[0]
            assert spec.change_note == (v.note or None)


def test_error_handling_versions_declare_retries_and_fallback():
    old, new, newest = (spec_for("WebFetcherTool", v) for v in ("1.0", "1.1", "1.2"))
    assert old.retries == 0 and "http_403" not in old.retry_on
    assert new.retries > 0 and "http_403" in new.retry_on
    assert newest.fallback == "ArchiveFetcherTool"


def test_simulator_component_events_carry_valid_specs():
    seen = 0
    for run in generate_runs(3, 600):
        for e in run:
            if e["event_type"] in ("component_created", "component_evolved"):
                out = e["output"] if isinstance(e["output"], dict) else json.loads(e["output"])
                spec = ComponentSpec.model_validate(out["spec"])
                assert spec.name == e["component_name"]
                assert spec.version == out["version"]
                seen += 1
    assert seen >= 5


def test_tool_schema_is_an_openai_function():
    tool = spec_for("SearchTool", "1.0").tool_schema()
    assert tool["type"] == "function"
    assert tool["function"]["name"] == "SearchTool"
    assert tool["function"]["parameters"]["type"] == "object"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"parameters": {"type": "string"}}, "type object"),
        ({"parameters": {"type": "object", "required": ["x"]}}, "not a property"),
        ({"retry_on": ["timeout"], "retries": 0}, "retries is 0"),
        ({"name": "bad name!"}, "must start with a letter"),
        ({"version": "v1"}, "dotted numbers"),
        (
            {"error_modes": [{"error_type": "a", "rate": 0.7}, {"error_type": "b", "rate": 0.7}]},
            "more than 1",
        ),
    ],
)
def test_invalid_specs_are_rejected_with_a_reason(change, reason):
    doc = {**spec_for("SearchTool", "1.0").model_dump(), **change}
    with pytest.raises(ValidationError, match=reason):
        ComponentSpec.model_validate(doc)


def test_argument_validation_names_the_problem():
    params = spec_for("WebFetcherTool", "1.0").parameters
    assert argument_problems(params, {"url": "https://x.org/a"}) == []
    assert argument_problems(params, {}) == ["arguments.url is required"]
    assert "does not match" in argument_problems(params, {"url": "ftp://x"})[0]
    assert "not a known parameter" in argument_problems(params, {"url": "https://a", "z": 1})[0]
    assert "must be string" in argument_problems(params, {"url": 3})[0]


def test_llmunix_definition_maps_to_the_same_shape():
    header = {
        "description": "Fetch pages politely",
        "retries": 2,
        "retry_on": "http_403, timeout",
        "fallback": "ArchiveFetcherTool",
        "timeout": 30,
        "capabilities": ["fetch"],
        "parameters": ["url"],
    }
    doc, problem = spec_from_definition(header, "WebFetcherTool", "tool", "1.1", None)
    assert problem is None
    spec = ComponentSpec.model_validate(doc)
    assert spec.retry_on == ("http_403", "timeout")
    assert spec.timeout_ms == 30_000.0
    assert spec.parameters["required"] == ["url"]
    bad, problem = spec_from_definition({"retries": "many"}, "X", "tool", "1", None)
    assert bad is None and "not a number" in problem


def test_builtin_specs_are_keyed_by_name_and_version():
    for key, spec in builtin_specs().items():
        assert key == spec.key
