"""The row-level rules the gold jobs apply before their commit: derived from the same contract
as the gate, under the gate's names, and each family fails the row that breaks it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from trainer_fixture import TOOLS

from tracelake.jobs.lake import catalog
from tracelake.jobs.quality.contracts import load_contract
from tracelake.jobs.quality.rows import RowFilter, row_filter, row_rules
from tracelake.jobs.quality.suites import rules_for

from .conftest import example_rows, strict_tools

GATED = ("gold.examples", "gold.preferences", "gold.constitutional_pairs")


@pytest.mark.parametrize("table", GATED)
def test_row_rules_are_gate_expectations_of_the_same_name_and_family(table: str) -> None:
    contract = load_contract(catalog.get(table))
    gate = {r.name: r.family for r in rules_for(contract)}
    rows = row_rules(contract)
    assert rows
    for rule in rows:
        assert gate.get(rule.name) == rule.family, rule.name
    # what the gate alone can judge (several rows or tables) is not a row rule
    assert not [r for r in rows if r.name.endswith(".unique")]


# One planted violation per row-level rule family -> the rule that must name it.
PLANTED: list[tuple[str, dict[str, Any], str]] = [
    ("not_null", {"goal_signature": None}, "gold.examples.goal_signature.not_null"),
    ("allowed", {"outcome": "partial"}, "gold.examples.outcome.allowed"),
    ("range", {"cost_usd": -0.5}, "gold.examples.cost_usd.range"),
    ("min_length", {"goal": ""}, "gold.examples.goal.min_length"),
    ("json", {"tools": "[{"}, "gold.examples.tools.json"),
    ("json_schema", {"record": '{"input": 1}'}, "gold.examples.record.json_schema"),
]


@pytest.mark.parametrize(("family", "change", "rule"), PLANTED, ids=[p[0] for p in PLANTED])
def test_each_rule_family_rejects_its_row(family: str, change: dict[str, Any], rule: str) -> None:
    keep = row_filter("gold.examples")
    good = example_rows(1)[0]
    assert keep(good) is True
    bad = {**good, **change}
    assert keep(bad) == (False, rule)
    (name, why), *_ = keep.failures(bad)
    assert name == rule and why.startswith(next(iter(change)))


def test_a_null_passes_every_rule_but_not_null() -> None:
    keep = RowFilter(load_contract(catalog.GOLD_EXAMPLES))
    row = {**example_rows(1)[0], "level": None, "scenario": None}
    assert keep(row) is True
    both = keep.failures({**example_rows(1)[0], "record": "{"})
    assert [n for n, _ in both] == ["gold.examples.record.json", "gold.examples.record.json_schema"]


@pytest.mark.parametrize("table", GATED)
def test_tool_calls_must_match_the_rows_tools(table: str) -> None:
    """Every message column of a gold table: a call naming no tool of `tools`, or whose arguments
    break that tool's schema, fails `<column>.tool_calls_match_tools` (assembly's own check)."""
    contract = load_contract(catalog.get(table))
    columns = [c for c, r in contract["columns"].items() if "tool_calls_match" in r]
    assert columns
    keep = RowFilter(contract)
    messages = example_rows(1)[0]["messages"]
    for column in columns:
        named = f"{table}.{column}.tool_calls_match_tools"
        assert [r.family for r in keep.rules if r.name == named] == ["format"]
        row = {column: messages, "tools": json.dumps(TOOLS)}
        assert (named, None) not in [(n, None) for n, _ in keep.failures(row)]
        unknown = dict(keep.failures({column: messages, "tools": "[]"}))
        assert "not a tool of `tools`" in unknown[named]
        invalid = dict(keep.failures({column: messages, "tools": strict_tools()}))
        assert "is not a known parameter" in invalid[named]
        # the reason names the parameter, never its value
        call = next(m for m in messages if m["tool_calls"])["tool_calls"][0]
        assert json.loads(call["function"]["arguments"]).popitem()[1] not in invalid[named]
