"""A table's contract -> the rules of its quality gate, each a Great Expectations expectation.

The contract is the one source: column constraints (not null, unique, allowed values, min/max,
min_length), the key, formats (JSON parseable, a JSON Schema, tool calls valid against the row's
tools), and its `gates` section:
references to other tables, shares of rows within bounds, splits disjoint by a group, the null
share of record fields (`null_share_max`), and no secret or personal-data pattern. Rules over
several rows or tables are SQL "unexpected rows" expectations; the tables they refer to are
temporary views (`reference_view`) the gate registers before measuring.

Spark measures, GX judges (docs/gates.md, "How a gate runs"): each rule is the semantic GX
expectation that states it (expect_column_values_to_not_be_null, ..._to_be_unique,
..._to_be_in_set, ..., unexpected_rows_expectation for SQL rules), plus how Spark measures it.
Row-level rules are a condition (true for an unexpected row) counted in ONE aggregate pass over
the cached table; rules over several rows or tables are a query each (its rows are unexpected)
or a value query (one row: the measured value and details, unexpected outside its bounds). The
gate hands each expectation the metrics GX would have computed (row count, null count,
unexpected count, a sample of unexpected values), taken from those measures, and GX's own
validation logic judges them (`Expectation.metrics_validate`): results and Data Docs show the
semantic expectation, its observed counts and sample.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
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
KEPT = "kept"  # schemas.curation.KEPT (not imported: that module builds Arrow schemas)


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite, with the stable name results and errors use, and how Spark
    measures it: exactly one of

    - `condition`: row level, SQL true for an unexpected row of the batch, counted in the one
      aggregate pass; `sample` is what a failure shows of such a row, `window` the columns a
      uniqueness count partitions by (read as `{n}`), `value` an expression computed once per
      row (read as `{v}`: a Python UDF is not run twice), `columns` the columns whose nulls GX's
      map expectations discount (their nonnull metrics);
    - `query`: SQL whose rows are unexpected (counted, a few kept as the sample);
    - `value_query`: SQL returning one row whose `value` is the measure (its other columns are
      kept as details); unexpected when outside [low, high]."""

    name: str  # e.g. gold.examples.run_id.unique
    family: str  # schemas.gates.RULE_FAMILIES
    expectation: Expectation
    column: str | None = None
    condition: str | None = None
    sample: str | None = None
    window: tuple[str, ...] = field(default=())
    value: str | None = None
    columns: tuple[str, ...] = field(default=())
    query: str | None = None
    value_query: str | None = None
    low: float = 0.0
    high: float = 0.0


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
    first = key[0] if key else None
    rules: list[Rule] = []
    E = gx.expectations

    def add(
        column: str | None,
        suffix: str,
        family: str,
        expectation: Expectation,
        condition: str,
        sample: str | None = None,
        window: tuple[str, ...] = (),
        value: str | None = None,
    ) -> None:
        name = rule_name(table, column, suffix)
        expectation.meta = _meta(name, family)
        rules.append(
            Rule(
                name,
                family,
                expectation,
                column,
                condition=condition,
                sample=sample or column,
                window=window,
                value=value,
                columns=(column,) if column else tuple(key),
            )
        )

    def unexpected(column: str, suffix: str, error: str, description: str) -> None:
        """A row-level rule GX has no expectation for, as an unexpected-rows expectation: the
        rows where `error` (a check function's call, NULL when fine) is not null."""
        add(
            column,
            suffix,
            "format",
            _unexpected(
                f"SELECT {first}, {error} AS error FROM {{batch}} WHERE {error} IS NOT NULL",
                description,
            ),
            "{v} IS NOT NULL",
            f"concat_ws(': ', {first}, {{v}})",
            value=error,
        )

    for column, rule in contract["columns"].items():
        kind = str(rule.get("type", ""))
        is_list = kind.startswith(LIST_TYPES)
        if rule.get("nullable") is False:
            add(
                column, "not_null", "column", E.ExpectColumnValuesToNotBeNull(column=column),
                f"{column} IS NULL", first,
            )  # fmt: skip
        if rule.get("unique") and not is_list:
            family = "key" if key == [column] else "column"
            add(
                column, "unique", family, E.ExpectColumnValuesToBeUnique(column=column),
                f"{column} IS NOT NULL AND {{n}} > 1", window=(column,),
            )  # fmt: skip
        if "allowed" in rule:
            allowed = list(rule["allowed"])
            add(
                column, "allowed", "allowed",
                E.ExpectColumnValuesToBeInSet(column=column, value_set=allowed),
                f"{column} NOT IN ({', '.join(_sql_text(str(v)) for v in allowed)})",
            )  # fmt: skip
        if "min" in rule or "max" in rule:
            low, high = rule.get("min"), rule.get("max")
            parts = ([f"{column} < {low}"] if low is not None else []) + (
                [f"{column} > {high}"] if high is not None else []
            )
            add(
                column, "range", "column",
                E.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high),
                " OR ".join(parts),
            )  # fmt: skip
        if "min_length" in rule:
            n = int(rule["min_length"])
            if is_list:  # an array's size: GX's length expectations are for strings
                add(
                    column, "min_length", "column",
                    _unexpected(
                        f"SELECT {first} FROM {{batch}} WHERE size({column}) < {n}",
                        f"`{column}` holds at least {n} items",
                    ),
                    f"size({column}) < {n}", f"size({column})",
                )  # fmt: skip
            else:
                add(
                    column, "min_length", "column",
                    E.ExpectColumnValueLengthsToBeBetween(column=column, min_value=n),
                    f"char_length({column}) < {n}", f"char_length({column})",
                )  # fmt: skip
        if rule.get("format") == "json":
            unexpected(
                column, "json", f"{JSON_ERROR_FUNCTION}({column})", f"`{column}` is valid JSON"
            )
        if "json_schema" in rule:
            schema = str(rule["json_schema"])
            json_schema(schema)  # a contract naming a missing schema fails here, not per row
            unexpected(
                column,
                "json_schema",
                f"{JSON_SCHEMA_ERROR_FUNCTION}({_sql_text(schema)}, {column})",
                f"`{column}` matches the JSON Schema {schema}",
            )
        if "tool_calls_match" in rule:
            tools = str(rule["tool_calls_match"])
            unexpected(
                column,
                TOOL_CALLS_RULE,
                f"{TOOL_CALLS_ERROR_FUNCTION}(to_json({column}), {tools})",
                f"every tool call in `{column}` names a tool of `{tools}` and its arguments "
                "validate against that tool's JSON schema",
            )
    declared_unique = [c for c, r in contract["columns"].items() if r.get("unique")]
    if len(key) > 1:
        add(
            None, "key.unique", "key", E.ExpectCompoundColumnsToBeUnique(column_list=key),
            f"NOT ({' AND '.join(f'{c} IS NULL' for c in key)}) AND {{n}} > 1",
            f"to_json(struct({', '.join(key)}))", tuple(key),
        )  # fmt: skip
    elif key and key[0] not in declared_unique:
        add(
            key[0], "unique", "key", E.ExpectColumnValuesToBeUnique(column=key[0]),
            f"{key[0]} IS NOT NULL AND {{n}} > 1", window=(key[0],),
        )  # fmt: skip
    return rules


def _sql_rule(table: str, rule_id: str, family: str, query: str, description: str) -> Rule:
    """A rule whose query returns the unexpected rows (GX's unexpected-rows expectation)."""
    name = rule_name(table, None, rule_id)
    expectation = gx.expectations.UnexpectedRowsExpectation(
        unexpected_rows_query=query, description=description, meta=_meta(name, family)
    )
    return Rule(name, family, expectation, query=query)


def _value_rule(
    table: str,
    rule_id: str,
    value_query: str,
    description: str,
    low: float,
    high: float,
) -> Rule:
    """A dataset-level rule measured as one value (and details) by `value_query`, unexpected
    outside [low, high]: an unexpected-rows expectation whose query selects the measured row
    when it is out of bounds (what GX would run on its own), judged on Spark's measure."""
    name = rule_name(table, None, rule_id)
    query = f"SELECT * FROM ({value_query}) WHERE value < {low} OR value > {high}"
    expectation = gx.expectations.UnexpectedRowsExpectation(
        unexpected_rows_query=query, description=description, meta=_meta(name, "dataset")
    )
    return Rule(name, "dataset", expectation, value_query=value_query, low=low, high=high)


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
            _value_rule(
                table,
                share["id"],
                f"SELECT coalesce(avg(CASE WHEN {share['where']} THEN 1.0 ELSE 0.0 END), 0.0) "
                "AS value, count(*) AS rows FROM {batch}",
                f"the share of rows where {share['where']} is within [{low}, {high}]",
                low,
                high,
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
        findings = f"{SECRET_FINDINGS_FUNCTION}({text})"
        secrets = _sql_rule(
            table,
            rule["id"],
            "dataset",
            f"SELECT {rule['key']}, findings FROM (SELECT {rule['key']}, "
            f"{findings} AS findings FROM {{batch}}) WHERE findings IS NOT NULL",
            f"the scrub's detectors find no secret or personal data in "
            f"{', '.join(rule['columns'])}",
        )
        # one row decides it: measured in the one pass (the sample: the detectors, not the text)
        rules.append(
            Rule(
                secrets.name,
                secrets.family,
                secrets.expectation,
                condition="{v} IS NOT NULL",
                sample=f"concat_ws(': ', {rule['key']}, {{v}})",
                value=findings,
            )
        )
    if "duplicates" in gates:
        rules.append(_duplicates_rule(contract, gates["duplicates"]))
    return rules


def duplicate_index(contract: dict[str, Any]) -> str | None:
    """The curation index the duplicates rule reads (gold.dedup_index), if the contract has one."""
    rule = (contract.get("gates") or {}).get("duplicates")
    return str(rule["index"]) if rule else None


def _duplicates_rule(contract: dict[str, Any], rule: dict[str, Any]) -> Rule:
    """Duplicate rate after curation: of the examples the export would ship (latest verdict in
    the index `kept`, or not judged yet), the share that still repeat a shipped example's exact
    content hash (every copy after the first) is at most `max`. Details: the shipped, judged and
    dropped counts and the dropped share (what curation removed)."""
    table, high = contract["table"], float(rule.get("max", 0.0))
    key = rule.get("key", "example_id")
    index = reference_view(str(rule["index"]))
    latest = (  # an example's latest verdict: its row of the highest batch_version
        f"SELECT {key}, max_by(verdict, batch_version) AS verdict, max_by(content_hash, "
        f"batch_version) AS content_hash FROM {index} GROUP BY {key}"
    )
    judged = (
        f"SELECT b.{key}, l.verdict, l.content_hash, (l.verdict IS NULL OR l.verdict = "
        f"'{KEPT}') AS ship FROM {{batch}} b LEFT JOIN ({latest}) l ON b.{key} = l.{key}"
    )
    query = (  # one pass over the judged examples: a copy is a shipped hash's 2nd, 3rd, ... row
        "SELECT CASE WHEN shipped = 0 THEN 0.0 ELSE duplicates / shipped END AS value, "
        "duplicates, shipped, unjudged, dropped, "
        "CASE WHEN total = 0 THEN 0.0 ELSE dropped / total END AS dropped_share "
        "FROM (SELECT count(*) AS total, count_if(ship) AS shipped, "
        "count_if(verdict IS NULL) AS unjudged, count_if(NOT ship) AS dropped, "
        "count_if(ship AND content_hash IS NOT NULL AND copy > 1) AS duplicates "
        f"FROM (SELECT *, row_number() OVER (PARTITION BY ship, content_hash ORDER BY {key}) "
        f"AS copy FROM ({judged})))"
    )
    return _value_rule(
        table,
        rule["id"],
        query,
        f"after curation ({rule['index']}, latest verdict), the share of exported examples that "
        f"are exact duplicates (content hash) is at most {high}",
        0.0,
        high,
    )


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
