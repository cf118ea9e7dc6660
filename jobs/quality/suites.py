"""A table's contract -> the rules of its quality gate, each a Great Expectations expectation.

The contract is the one source: column constraints (not null, unique, allowed values, min/max,
min_length), the key, formats (JSON parseable, a JSON Schema, tool calls valid against the row's
tools), and its `gates` section:
references to other tables, shares of rows within bounds, splits disjoint by a group, the null
share of record fields (`null_share_max`), and no secret or personal-data pattern. Rules over
several rows or tables are SQL "unexpected rows" expectations on the Spark batch; the tables
they refer to are temporary views (`reference_view`) the gate registers before validating.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import great_expectations as gx
from great_expectations.expectations import Expectation

from ..errors import ConfigError
from .contracts import contract_hash, json_schema
from .json_checks import (
    JSON_ERROR_FUNCTION,
    JSON_SCHEMA_ERROR_FUNCTION,
    TOOL_CALLS_ERROR_FUNCTION,
)
from .rows import TOOL_CALLS_RULE, rule_name
from .secrets import SECRET_FINDINGS_FUNCTION

LIST_TYPES = ("list<", "map<")
STRING_TYPES = ("string",)


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite, with the stable name results and errors use."""

    name: str  # e.g. gold.examples.run_id.unique
    family: str  # schemas.gates.RULE_FAMILIES
    expectation: Expectation
    column: str | None = None


def reference_view(table: str) -> str:
    """The temporary view a gate registers for a table that rules refer to."""
    return "gate_ref_" + table.replace(".", "_")


def suite_name(contract: dict[str, Any]) -> str:
    return f"{contract['table']}@{contract_hash(contract)}"


def _meta(name: str, family: str) -> dict[str, Any]:
    return {"name": name, "family": family}


def _sql_text(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _unexpected(query: str, description: str) -> Expectation:
    return gx.expectations.UnexpectedRowsExpectation(
        unexpected_rows_query=query, description=description
    )


def column_rules(contract: dict[str, Any]) -> list[Rule]:
    table = contract["table"]
    key = list(contract.get("key") or [])
    rules: list[Rule] = []
    E = gx.expectations

    def add(column: str | None, suffix: str, family: str, expectation: Expectation) -> None:
        name = rule_name(table, column, suffix)
        expectation.meta = _meta(name, family)
        rules.append(Rule(name, family, expectation, column))

    for column, rule in contract["columns"].items():
        kind = str(rule.get("type", ""))
        is_list = kind.startswith(LIST_TYPES)
        if rule.get("nullable") is False:
            add(column, "not_null", "column", E.ExpectColumnValuesToNotBeNull(column=column))
        if rule.get("unique") and not is_list:
            family = "key" if key == [column] else "column"
            add(column, "unique", family, E.ExpectColumnValuesToBeUnique(column=column))
        if "allowed" in rule:
            add(
                column,
                "allowed",
                "allowed",
                E.ExpectColumnValuesToBeInSet(column=column, value_set=list(rule["allowed"])),
            )
        if "min" in rule or "max" in rule:
            add(
                column,
                "range",
                "column",
                E.ExpectColumnValuesToBeBetween(
                    column=column, min_value=rule.get("min"), max_value=rule.get("max")
                ),
            )
        if "min_length" in rule:
            if is_list:  # an array's size: GX's length expectations are for strings
                add(
                    column,
                    "min_length",
                    "column",
                    E.UnexpectedRowsExpectation(
                        unexpected_rows_query=f"SELECT {key[0]} FROM {{batch}} "
                        f"WHERE size({column}) < {int(rule['min_length'])}",
                        description=f"`{column}` holds at least {rule['min_length']} items",
                    ),
                )
            else:
                add(
                    column,
                    "min_length",
                    "column",
                    E.ExpectColumnValueLengthsToBeBetween(
                        column=column, min_value=int(rule["min_length"])
                    ),
                )
        if rule.get("format") == "json":
            add(
                column,
                "json",
                "format",
                _unexpected(
                    f"SELECT {key[0]}, {JSON_ERROR_FUNCTION}({column}) AS error FROM {{batch}} "
                    f"WHERE {JSON_ERROR_FUNCTION}({column}) IS NOT NULL",
                    f"`{column}` is valid JSON",
                ),
            )
        if "json_schema" in rule:
            schema = str(rule["json_schema"])
            json_schema(schema)  # a contract naming a missing schema fails here, not per row
            call = f"{JSON_SCHEMA_ERROR_FUNCTION}({_sql_text(schema)}, {column})"
            add(
                column,
                "json_schema",
                "format",
                _unexpected(
                    f"SELECT {key[0]}, {call} AS error FROM {{batch}} WHERE {call} IS NOT NULL",
                    f"`{column}` matches the JSON Schema {schema}",
                ),
            )
        if "tool_calls_match" in rule:
            tools = str(rule["tool_calls_match"])
            call = f"{TOOL_CALLS_ERROR_FUNCTION}(to_json({column}), {tools})"
            add(
                column,
                TOOL_CALLS_RULE,
                "format",
                _unexpected(
                    f"SELECT {key[0]}, {call} AS error FROM {{batch}} WHERE {call} IS NOT NULL",
                    f"every tool call in `{column}` names a tool of `{tools}` and its arguments "
                    "validate against that tool's JSON schema",
                ),
            )
    declared_unique = [c for c, r in contract["columns"].items() if r.get("unique")]
    if len(key) > 1:
        add(None, "key.unique", "key", E.ExpectCompoundColumnsToBeUnique(column_list=key))
    elif key and key[0] not in declared_unique:
        add(key[0], "unique", "key", E.ExpectColumnValuesToBeUnique(column=key[0]))
    return rules


def _sql_rule(table: str, rule_id: str, family: str, query: str, description: str) -> Rule:
    name = rule_name(table, None, rule_id)
    expectation = gx.expectations.UnexpectedRowsExpectation(
        unexpected_rows_query=query, description=description, meta=_meta(name, family)
    )
    return Rule(name, family, expectation)


def references(contract: dict[str, Any]) -> list[dict[str, Any]]:
    return list((contract.get("gates") or {}).get("references") or [])


def gate_rules(contract: dict[str, Any]) -> list[Rule]:
    """The referential and dataset-level rules of the contract's `gates` section."""
    table = contract["table"]
    gates = contract.get("gates") or {}
    key = (contract.get("key") or ["*"])[0]
    rules: list[Rule] = []
    for ref in references(contract):
        where = f"WHERE {ref['where']}" if ref.get("where") else ""
        rules.append(
            _sql_rule(
                table,
                ref["id"],
                "referential",
                f"SELECT b.{key}, b.{ref['column']} FROM (SELECT * FROM {{batch}} {where}) b "
                f"LEFT ANTI JOIN {reference_view(ref['table'])} r "
                f"ON b.{ref['column']} = r.{ref['to']}",
                f"every `{ref['column']}` ({ref.get('where') or 'all rows'}) is a "
                f"`{ref['to']}` of {ref['table']}",
            )
        )
    for share in gates.get("shares") or []:
        low, high = float(share.get("min", 0.0)), float(share.get("max", 1.0))
        rules.append(
            _sql_rule(
                table,
                share["id"],
                "dataset",
                "SELECT share FROM (SELECT avg(CASE WHEN "
                f"{share['where']} THEN 1.0 ELSE 0.0 END) AS share FROM {{batch}}) "
                f"WHERE share < {low} OR share > {high}",
                f"the share of rows where {share['where']} is within [{low}, {high}]",
            )
        )
    if "disjoint_splits" in gates:
        rule = gates["disjoint_splits"]
        group, split = rule["group"], rule["split"]
        rules.append(
            _sql_rule(
                table,
                rule["id"],
                "dataset",
                f"SELECT {group}, collect_set({split}) AS splits FROM {{batch}} "
                f"WHERE {group} IS NOT NULL GROUP BY {group} HAVING count(DISTINCT {split}) > 1",
                f"no `{split}` holds a `{group}` of another",
            )
        )
    if "null_share" in gates:
        rules.append(_null_share_rule(contract, gates["null_share"]))
    if "no_secrets" in gates:
        rule = gates["no_secrets"]
        types = {c: str(r.get("type", "")) for c, r in contract["columns"].items()}
        parts = [c if types.get(c) in STRING_TYPES else f"to_json({c})" for c in rule["columns"]]
        text = f"concat_ws(char(10), {', '.join(parts)})"
        rules.append(
            _sql_rule(
                table,
                rule["id"],
                "dataset",
                f"SELECT {rule['key']}, findings FROM (SELECT {rule['key']}, "
                f"{SECRET_FINDINGS_FUNCTION}({text}) AS findings FROM {{batch}}) "
                "WHERE findings IS NOT NULL",
                f"the scrub's detectors find no secret or personal data in "
                f"{', '.join(rule['columns'])}",
            )
        )
    return rules


def _null_share_rule(contract: dict[str, Any], rule: dict[str, Any]) -> Rule:
    """Per `by` group, the share of rows listing a record field in `column` (the fields left
    null) stays within `null_share_max` (a group's own bound, else `default`; unlisted: any)."""
    bounds = contract.get("null_share_max") or {}
    if not bounds:
        raise ConfigError(f"{contract['table']}: gates.null_share needs null_share_max")
    values = [
        f"({_sql_text(group)}, {_sql_text(field)}, {float(bound)})"
        for group, fields in bounds.items()
        for field, bound in fields.items()
    ]
    by, column = rule["by"], rule["column"]
    query = (
        f"WITH totals AS (SELECT {by} AS grp, count(*) AS n FROM {{batch}} GROUP BY {by}), "
        f"nulls AS (SELECT grp, field, count(*) AS k FROM (SELECT {by} AS grp, "
        f"explode({column}) AS field FROM {{batch}}) GROUP BY grp, field), "
        f"bounds AS (SELECT * FROM VALUES {', '.join(values)} AS bounds(grp, field, max_share)) "
        "SELECT n.grp, n.field, n.k / t.n AS share, "
        "coalesce(own.max_share, dflt.max_share, 1.0) AS max_share "
        "FROM nulls n JOIN totals t ON n.grp = t.grp "
        "LEFT JOIN bounds own ON own.grp = n.grp AND own.field = n.field "
        "LEFT JOIN bounds dflt ON dflt.grp = 'default' AND dflt.field = n.field "
        "WHERE n.k / t.n > coalesce(own.max_share, dflt.max_share, 1.0)"
    )
    return _sql_rule(
        contract["table"],
        rule["id"],
        "dataset",
        query,
        f"per `{by}`, the share of rows with a record field left null is within null_share_max",
    )


def rules_for(contract: dict[str, Any]) -> list[Rule]:
    rules = column_rules(contract) + gate_rules(contract)
    names = [r.name for r in rules]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{contract['table']}: rules with one name: {', '.join(duplicated)}")
    return rules


def build_suite(contract: dict[str, Any], rules: Iterable[Rule]) -> gx.ExpectationSuite:
    suite = gx.ExpectationSuite(name=suite_name(contract))
    for rule in rules:
        suite.add_expectation(rule.expectation)
    return suite
