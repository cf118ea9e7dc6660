"""A contract's row-level rules as a row filter, for the gold jobs to run before their commit.

A gate never edits the version it validated, so the rules that can be judged one row at a time
(not null, allowed values, min / max, min_length, JSON, JSON Schema, tool calls against the
row's tools) also run inside the gold
jobs: a row failing one goes to gold.rejected under the name of the expectation it failed, and
the committed version normally passes its gate. The rules come from the same contract as the
gate's suite (suites.py), under the same names (`rule_name`), and the checks behind the JSON
rules are the gate's own functions (json_checks.py); nothing about a rule is restated here.
Rules over several rows or tables (unique, key, references, shares, splits) stay gate-only.

Great Expectations is not imported: the build runs without it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..lake import catalog
from .contracts import contract_text, json_schema, load_contract
from .json_checks import json_error, json_schema_error, tool_calls_error

# A filter answers datatrove's way: True (keep), or (False, reason): here the failed rule's name.
FilterResult = bool | tuple[bool, str]
# The rule a message column's `tool_calls_match: <tools column>` makes: every tool call names a
# tool of that column and its arguments validate against the tool's parameters schema.
TOOL_CALLS_RULE = "tool_calls_match_tools"
# Values quoted in a reason are cut to this many characters.
_QUOTED = 60
# Raised when what a check function accepts changes, so that commits checked by the old code no
# longer stand for the new rules (rules_id).
CHECKS_VERSION = 1
# Commit metadata of a job that ran the row filter before committing: every row the commit adds
# passed the rules `rules_id` names, so a gate can judge them from the commit instead of running
# them again (jobs/quality/commit_checks.py).
CHECKED_KEY = "row_rules_checked"
# "0" when the commit carried no row from the files it removed (an overwrite, or a job that
# checked its kept rows again); otherwise those rows count only if their own commits checked them.
CARRIED_KEY = "row_rules_carried"


def rule_name(table: str, column: str | None, suffix: str) -> str:
    """`<table>.<column>.<rule>` or `<table>.<rule>`: the name a rule has in gate results,
    errors, Data Docs and gold.rejected."""
    return f"{table}.{column}.{suffix}" if column else f"{table}.{suffix}"


@dataclass(frozen=True)
class RowRule:
    name: str  # e.g. gold.examples.cost_usd.range
    family: str  # as the gate reports it (schemas.gates.RULE_FAMILIES)
    column: str
    check: Callable[..., str | None]  # why the value fails, None when it passes
    # a second column the check reads (the tools of a tool-call rule): check(value, other)
    other: str | None = None


def _quoted(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _QUOTED else text[: _QUOTED - 3] + "..."


def _not_null(value: Any) -> str | None:
    return "is null" if value is None else None


def _allowed(values: list[Any]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None or value in values:
            return None
        return f"{_quoted(value)} is not one of {', '.join(map(str, values))}"

    return check


def _between(low: Any, high: Any) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None:
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            return f"{value} is outside [{low}, {high}]"
        return None

    return check


def _min_length(n: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if value is None or len(value) >= n:
            return None
        return f"length {len(value)} is below {n}"

    return check


def _schema_check(schema: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return json_schema_error(schema, value)

    return check


def row_rules(contract: Mapping[str, Any]) -> list[RowRule]:
    """The contract's rules that one row decides, in the order the gate's suite lists them.
    Like the gate's expectations, a null value passes every rule but not-null."""
    table = contract["table"]
    rules: list[RowRule] = []
    for column, rule in contract["columns"].items():

        def add(
            suffix: str,
            family: str,
            check: Callable[..., str | None],
            column: str = column,
            other: str | None = None,
        ) -> None:
            rules.append(RowRule(rule_name(table, column, suffix), family, column, check, other))

        if rule.get("nullable") is False:
            add("not_null", "column", _not_null)
        if "allowed" in rule:
            add("allowed", "allowed", _allowed(list(rule["allowed"])))
        if "min" in rule or "max" in rule:
            add("range", "column", _between(rule.get("min"), rule.get("max")))
        if "min_length" in rule:
            add("min_length", "column", _min_length(int(rule["min_length"])))
        if rule.get("format") == "json":
            add("json", "format", json_error)
        if "json_schema" in rule:
            json_schema(str(rule["json_schema"]))  # a missing schema fails here, not per row
            add("json_schema", "format", _schema_check(str(rule["json_schema"])))
        if "tool_calls_match" in rule:
            add(TOOL_CALLS_RULE, "format", tool_calls_error, other=str(rule["tool_calls_match"]))
    return rules


class RowFilter:
    """A table's row-level rules over one row (a dict of its columns)."""

    def __init__(self, contract: Mapping[str, Any]) -> None:
        self.table: str = contract["table"]
        self.rules = row_rules(contract)

    def failures(self, row: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(rule name, why) of every rule the row fails, in rule order."""
        failed = []
        for rule in self.rules:
            value = row.get(rule.column)
            why = (
                rule.check(value) if rule.other is None else rule.check(value, row.get(rule.other))
            )
            if why is not None:
                failed.append((rule.name, f"{rule.column} {why}"))
        return failed

    def __call__(self, row: Mapping[str, Any]) -> FilterResult:
        failed = self.failures(row)
        return True if not failed else (False, failed[0][0])


@cache
def row_filter(table: str) -> RowFilter:
    """The row filter of a table's contract, by its name (loaded once per process: Spark's
    Python workers build it once, not once per row)."""
    return RowFilter(load_contract(catalog.get(table)))


@cache
def rules_id(table: str) -> str:
    """`<table>@<hash>` of the table's row rules: its contract's text, the JSON Schemas the
    contract names, the code that makes and runs the checks (this module, json_checks.py, the
    tool-argument validator) and the checks' version. A commit checked under another id does
    not vouch for the rules of today."""
    import hashlib
    from importlib.metadata import version
    from pathlib import Path

    from tracelake.schemas import component_spec

    from . import json_checks

    spec = catalog.get(table)
    contract = load_contract(spec)
    code = [Path(m.__file__ or "").read_text() for m in (json_checks, component_spec)]
    parts = [contract_text(spec), str(CHECKS_VERSION), Path(__file__).read_text(), *code]
    parts.append(version("jsonschema"))
    for rule in contract["columns"].values():
        if "json_schema" in rule:
            parts.append(json.dumps(json_schema(str(rule["json_schema"])), sort_keys=True))
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]
    return f"{table}@{digest}"


def checked_metadata(table: str, *, carried: bool) -> dict[str, str]:
    """The commit metadata of a job whose every new row passed `table`'s row filter; carried:
    the commit also keeps rows of files it replaces, as they were."""
    return {CHECKED_KEY: rules_id(table), CARRIED_KEY: "1" if carried else "0"}
