"""`tracelake gate`: validate tables against the suites generated from their contracts.

Each table is read through the lake's Spark bridge (jobs/lake/spark_io, either Delta engine) at
its current version and cached once; Spark measures every rule of its contract (the row-level
rules in one aggregate pass, `measure`), and GX judges: each rule's semantic expectation
(jobs/quality/suites.py) is validated by GX's own logic on the metrics Spark measured
(`Expectation.metrics_validate`), in an ephemeral GX context whose stores and Data Docs hold the
suite and the validation result. Each table version gets one row in
`ops.gate_results` with every expectation's outcome; Data Docs are rebuilt from the run. A gate
only reads: it never edits the version it validated (docs/gates.md).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..context import JobContext
from ..errors import ConfigError
from ..lake import catalog, spark_io
from ..lake.catalog import TableSpec
from ..lake.store import Lake
from .contracts import load_contract
from .docs import SITE_NAME, docs_dir, site_config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tracelake.schemas.gates import ExpectationOutcome

    from .suites import Rule

log = logging.getLogger(__name__)

# An observed value is kept short: it is a diagnosis, not a copy of the data.
OBSERVED_CHARS = 500
SAMPLE_ROWS = 5


def gated_tables() -> tuple[str, ...]:
    """The default tables: the ones the export reads."""
    from ..export.job import SOURCES

    return tuple(dict.fromkeys(t for tables, _ in SOURCES.values() for t in tables))


@dataclass(frozen=True)
class TableGate:
    gate_result_id: str
    table: str
    table_version: int
    suite: str
    passed: bool
    expectations: list[ExpectationOutcome]
    data_docs: str
    # the commits whose row checks the gate used instead of running the row-level rules
    checked_by: list[int] = field(default_factory=list)

    def failing(self) -> list[str]:
        return [e.name for e in self.expectations if not e.passed]


@dataclass
class GateRun:
    gate_run_id: str
    results: list[TableGate] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # default tables that do not exist yet
    docs_index: str | None = None
    docs_note: str = ""

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def failing(self) -> list[str]:
        return [name for r in self.results for name in r.failing()]


def _now() -> datetime:
    return datetime.now(UTC)


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > 80:
        return value[:77] + "..."
    if isinstance(value, list):
        return [_short(v) for v in value[:SAMPLE_ROWS]]
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    return value


MEASURE_VIEW = "gate_batch"
# What GX's map expectations keep of the unexpected values (result_format SUMMARY).
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_ROWS}


@dataclass(frozen=True)
class Measures:
    """What Spark measured: the batch's rows and each column's nulls, and per rule its
    unexpected count, a sample of what broke it, the rows it judged (a compound key's rows not
    all null) and, for value rules, the measured row."""

    rows: int
    nulls: dict[str, int]
    counts: dict[str, int]
    samples: dict[str, list[Any]]
    filtered: dict[str, int]
    values: dict[str, dict[str, Any]]
    # rules judged from the commits that checked every row (commit_checks.py): those versions
    checked_by: dict[str, list[int]] = field(default_factory=dict)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return value


def measure(
    spark: SparkSession,
    df: Any,
    rules: Sequence[Rule],
    checked: Collection[str] = (),
    checked_by: Sequence[int] = (),
) -> Measures:
    """Every rule's measure: the row-level rules in one aggregate pass over `df` (conditional
    counts, a short sample each, null counts, uniqueness by window counts), then one query per
    rule over several rows or tables.

    checked: names of row-level rules the commits `checked_by` ran on every row before
    committing (commit_checks.py): not run again, they count no unexpected row; their columns'
    nulls are still counted (GX's percentages are over the non-null values)."""
    df.createOrReplaceTempView(MEASURE_VIEW)
    counts: dict[str, int] = {}
    samples: dict[str, list[Any]] = {}
    filtered: dict[str, int] = {}
    values: dict[str, dict[str, Any]] = {}
    nulls: dict[str, int] = {}
    row_rules = [r for r in rules if r.condition is not None]
    columns = list(dict.fromkeys(c for r in row_rules for c in r.columns))
    extra: list[str] = []
    windows: dict[tuple[str, ...], str] = {}
    aggregates = ["count(*) AS `__rows`"]
    aggregates += [f"count_if({c} IS NULL) AS `__null{j}`" for j, c in enumerate(columns)]
    for i, rule in enumerate(row_rules):
        if len(rule.columns) > 1:
            every_null = " AND ".join(f"{c} IS NULL" for c in rule.columns)
            aggregates.append(f"count_if(NOT ({every_null})) AS `__f{i}`")
        if rule.name in checked:
            continue
        names = {}
        if rule.value is not None:
            extra.append(f"{rule.value} AS `__v{i}`")
            names["{v}"] = f"`__v{i}`"
        if rule.window:
            if rule.window not in windows:
                windows[rule.window] = f"`__n{len(windows)}`"
                extra.append(
                    f"count(*) OVER (PARTITION BY {', '.join(rule.window)}) AS "
                    f"{windows[rule.window]}"
                )
            names["{n}"] = windows[rule.window]
        condition, sample = str(rule.condition), str(rule.sample or "NULL")
        for placeholder, column in names.items():
            condition = condition.replace(placeholder, column)
            sample = sample.replace(placeholder, column)
        aggregates.append(f"count_if(coalesce({condition}, false)) AS `__c{i}`")
        aggregates.append(
            f"slice(collect_list(CASE WHEN coalesce({condition}, false) THEN "
            f"CAST({sample} AS STRING) END), 1, {SAMPLE_ROWS}) AS `__s{i}`"
        )
    source = f"SELECT *{''.join(', ' + e for e in extra)} FROM {MEASURE_VIEW}"
    (row,) = spark.sql(f"SELECT {', '.join(aggregates)} FROM ({source})").collect()
    rows = int(row["__rows"])
    nulls = {c: int(row[f"__null{j}"]) for j, c in enumerate(columns)}
    for i, rule in enumerate(row_rules):
        if len(rule.columns) > 1:
            filtered[rule.name] = int(row[f"__f{i}"])
        if rule.name in checked:
            counts[rule.name], samples[rule.name] = 0, []
            continue
        counts[rule.name] = int(row[f"__c{i}"])
        samples[rule.name] = list(row[f"__s{i}"] or [])
    for rule in rules:
        if rule.query is not None and rule.condition is None:
            query = rule.query.replace("{batch}", MEASURE_VIEW)
            (found,) = spark.sql(
                f"SELECT count(*) AS n, slice(collect_list(to_json(struct(*))), 1, "
                f"{SAMPLE_ROWS}) AS sample FROM ({query})"
            ).collect()
            counts[rule.name] = int(found["n"])
            samples[rule.name] = list(found["sample"])
        elif rule.value_query is not None:
            (found,) = spark.sql(rule.value_query.replace("{batch}", MEASURE_VIEW)).collect()
            measured = {k: _plain(v) for k, v in found.asDict().items()}
            values[rule.name] = measured
            value = float(measured["value"])
            counts[rule.name] = int(value < rule.low or value > rule.high)
            samples[rule.name] = [json.dumps(measured, default=str)] if counts[rule.name] else []
    spark.catalog.dropTempView(MEASURE_VIEW)
    by = {name: list(checked_by) for name in checked if name in counts}
    return Measures(rows, nulls, counts, samples, filtered, values, by)


def _metric(metric: str, rule: Rule, measured: Measures) -> Any:
    """The value of one metric GX's expectation asks for, from Spark's measures."""
    if metric == "table.row_count":
        return measured.rows
    if metric == "column_values.nonnull.unexpected_count" and not rule.name.endswith("not_null"):
        return measured.nulls.get(rule.column or "", 0)
    if metric.endswith((".unexpected_count", ".row_count")):
        return measured.counts[rule.name]
    if metric.endswith(".unexpected_values") or metric == "unexpected_rows_query.table":
        return measured.samples[rule.name]
    if metric.endswith(".filtered_row_count"):
        return measured.filtered.get(rule.name, measured.rows)
    return None  # index lists and queries: a Spark batch has no row index


def judge(rule: Rule, measured: Measures) -> Any:
    """GX's validation of the rule's expectation on the metrics Spark measured: the same
    expectation type, success logic and result shape as a Checkpoint would give, without GX
    computing a metric itself."""
    expectation = rule.expectation
    runtime = {"result_format": dict(RESULT_FORMAT)}
    needed = expectation.get_validation_dependencies(
        execution_engine=None, runtime_configuration=runtime
    )
    metrics = {
        configuration.id: _metric(name, rule, measured)
        for name, configuration in needed.metric_configurations.items()
    }
    return expectation.metrics_validate(
        metrics, runtime_configuration=runtime, execution_engine=None
    )


def outcome_of(
    result: Any, rule: Rule | None = None, measured: Measures | None = None
) -> ExpectationOutcome:
    """One GX ExpectationValidationResult as an ExpectationOutcome row, with what Spark measured
    for its rule (a sample of what broke it; a value rule's measured row)."""
    from tracelake.schemas.gates import ExpectationOutcome

    config = result.expectation_config
    meta = config.meta or {}
    raw = result.result or {}
    observed: dict[str, Any] = {
        k: _short(raw[k])
        for k in ("observed_value", "element_count", "unexpected_count", "unexpected_percent")
        if k in raw and raw[k] is not None
    }
    sample = raw.get("partial_unexpected_list") or (raw.get("details") or {}).get("unexpected_rows")
    if measured is not None and rule is not None:
        sample = measured.samples.get(rule.name) or sample
        observed.update({k: _short(v) for k, v in measured.values.get(rule.name, {}).items()})
    if sample:
        observed["sample"] = _short(list(sample))
    if measured is not None and rule is not None and rule.name in measured.checked_by:
        observed["checked_by_commits"] = _short(measured.checked_by[rule.name])
    info = result.exception_info or {}
    if info.get("raised_exception"):
        observed["exception"] = str(info.get("exception_message"))[:300]
    text = json.dumps(observed, default=str, sort_keys=True)
    count = raw.get("unexpected_count")
    if count is None and "unexpected_percent" not in raw and config.type.startswith("unexpected"):
        count = raw.get("observed_value")
    return ExpectationOutcome(
        name=str(meta.get("name") or config.type),
        family=str(meta.get("family") or "column"),
        expectation_type=config.type,
        column=rule.column if rule is not None else config.kwargs.get("column"),
        passed=bool(result.success),
        observed_value=text[:OBSERVED_CHARS],
        unexpected_count=int(count) if isinstance(count, int | float) else None,
    )


class _GX:
    """One ephemeral GX context for a gate run: its suites and validation results, a Data Docs
    site."""

    def __init__(self, docs_folder: Path | None) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.docs_folder = docs_folder
        if docs_folder is not None:
            docs_folder.mkdir(parents=True, exist_ok=True)
            self.context.add_data_docs_site(
                site_name=SITE_NAME,
                site_config=site_config(docs_folder),  # type: ignore[arg-type]  # GX's TypedDict
            )

    def validate(
        self, table: str, version: int, suite: Any, results: list[Any], run_name: str
    ) -> tuple[Any, str]:
        """The suite's validation result from its expectations' results (judged by GX on
        Spark's measures), stored as a Checkpoint would store it; (it, its Data Docs page or
        '')."""
        from great_expectations import __version__ as gx_version
        from great_expectations.core import ExpectationSuiteValidationResult
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )
        from great_expectations.validator.validation_statistics import (
            calc_validation_statistics,
        )

        suite = self.context.suites.add(suite)
        statistics = calc_validation_statistics(results)
        run_id = RunIdentifier(run_name=run_name, run_time=_now())
        batch = f"{table}@v{version}"
        validation = ExpectationSuiteValidationResult(
            results=results,
            success=statistics.success,
            suite_name=suite.name,
            statistics={
                "evaluated_expectations": statistics.evaluated_expectations,
                "successful_expectations": statistics.successful_expectations,
                "unsuccessful_expectations": statistics.unsuccessful_expectations,
                "success_percent": statistics.success_percent,
            },
            meta={
                "great_expectations_version": gx_version,
                "run_id": run_id,
                "validation_time": run_id.run_time,
                "batch_spec": {"table": table, "version": version, "measured_by": "spark"},
                "active_batch_definition": {
                    "datasource_name": "tracelake",
                    "data_asset_name": table,
                },
            },
            batch_id=batch,
        )
        identifier = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
            run_id=run_id,
            batch_identifier=batch,
        )
        self.context.validation_results_store.store_validation_results(
            suite_validation_result=validation,
            suite_validation_result_identifier=identifier,
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
        )
        page = ""
        if self.docs_folder is not None:
            page = self._page(identifier)
        return validation, page

    def _page(self, identifier: Any) -> str:
        urls = self.context.get_docs_sites_urls(
            resource_identifier=identifier, site_name=SITE_NAME, only_if_exists=False
        )
        return str(urls[0].get("site_url") or "") if urls else ""

    def build_docs(self) -> str | None:
        if self.docs_folder is None:
            return None
        self.context.build_data_docs(site_names=[SITE_NAME])
        index = self.docs_folder / "index.html"
        return str(index) if index.exists() else None


def _register_references(
    spark: SparkSession, lake: Lake, contract: dict[str, Any]
) -> dict[str, int | None]:
    """A temporary view of every table the contract's rules refer to; their versions. A table
    that does not exist yet is an empty view, so every reference to it is unexpected."""
    from .suites import duplicate_index, reference_view, references

    needed: dict[str, list[str]] = {}
    for ref in references(contract):
        needed.setdefault(ref["table"], []).append(ref["to"])
    index = duplicate_index(contract)
    if index is not None:  # curation's verdicts (gold.dedup_index): an empty view = none judged
        needed.setdefault(index, []).extend(
            ["example_id", "verdict", "content_hash", "batch_version"]
        )
    versions: dict[str, int | None] = {}
    for table, wanted in needed.items():
        spec = catalog.get(table)
        columns = list(dict.fromkeys(wanted))
        version = lake.version(spec)
        if version is None:
            schema = spark_io.spark_schema(pa.schema([spec.schema.field(c) for c in columns]))
            df = spark.createDataFrame([], schema)
        else:
            df = spark_io.read(spark, spec, lake=lake, columns=columns, version=version)
        df.createOrReplaceTempView(reference_view(table))
        versions[table] = version
    return versions


def _checked_rules(lake: Lake, spec: TableSpec, version: int) -> tuple[set[str], list[int]]:
    """The row-level rules the commits of this version ran on every row, and those commits'
    versions (none for a version without rows); nothing when some row was written unchecked
    (or under other rules)."""
    from .commit_checks import checked_by_commits
    from .rows import row_filter, rules_id

    name = spec.qualified_name
    try:
        versions = checked_by_commits(lake, spec, version, rules_id(name))
    except Exception as exc:  # a log the walk cannot read: measure, as without the commits
        log.warning("gate %s@%s: measuring every rule (%s)", name, version, exc)
        return set(), []
    if versions is None:
        return set(), []
    return {rule.name for rule in row_filter(name).rules}, versions


def _spec(table: str) -> TableSpec:
    try:
        return catalog.get(table)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None


def run_gates(
    ctx: JobContext,
    tables: Sequence[str] | None = None,
    *,
    spark: SparkSession | None = None,
    docs: str | None = None,
    remeasure: bool = False,
) -> GateRun:
    """Validate each table at its current version; append the results to ops.gate_results.

    tables: qualified names (default: the tables the export reads; those that do not exist
    yet are skipped). A named table that does not exist is an error.
    remeasure: run every rule, even the row-level rules the commits of the version already
    ran on every row (by default those are judged from the commits: commit_checks.py)."""
    from tracelake.schemas.gates import GateResult

    from ..spark import get_session
    from .json_checks import register_json_checks
    from .secrets import register_secret_findings
    from .suites import build_suite, rules_for, suite_name

    lake = ctx.lake
    explicit = bool(tables)
    specs = [_spec(t) for t in (tables or gated_tables())]
    run = GateRun(gate_run_id=uuid.uuid4().hex)
    started = _now()
    todo: list[tuple[TableSpec, int]] = []
    for spec in specs:
        version = lake.version(spec)
        if version is None:
            if explicit:
                from ..errors import TableNotFoundError

                raise TableNotFoundError(
                    f"{spec.qualified_name} does not exist yet at {lake.uri(spec)}; build it "
                    "first (tracelake build)"
                )
            run.skipped.append(spec.qualified_name)
            continue
        todo.append((spec, version))
    if not todo:
        return run
    folder, run.docs_note = docs_dir(lake, docs)
    spark = spark or get_session(ctx.settings)
    register_secret_findings(spark)
    register_json_checks(spark)
    # the engine the reads below use (a `using_engine` block overrides the session's)
    engine = "native" if spark_io.is_native(spark) else "bridge"
    gxc = _GX(folder)
    rows: list[dict[str, Any]] = []
    for spec, version in todo:
        contract = load_contract(spec)
        rules = rules_for(contract)
        reference_versions = _register_references(spark, lake, contract)
        checked: set[str] = set()
        checked_by: list[int] = []
        if not remeasure:
            checked, checked_by = _checked_rules(lake, spec, version)
        df = spark_io.read(spark, spec, lake=lake, version=version).cache()
        try:
            measured = measure(spark, df, rules, checked, checked_by)
        finally:
            df.unpersist()
        results = [judge(rule, measured) for rule in rules]
        validation, page = gxc.validate(
            spec.qualified_name, version, build_suite(contract, rules), results, run.gate_run_id
        )
        outcomes = [
            outcome_of(result, rule, measured) for rule, result in zip(rules, results, strict=True)
        ]
        gate = TableGate(
            gate_result_id=uuid.uuid4().hex,
            table=spec.qualified_name,
            table_version=version,
            suite=suite_name(contract),
            passed=bool(validation.success) and all(o.passed for o in outcomes),
            expectations=outcomes,
            data_docs=page,
            checked_by=checked_by,
        )
        run.results.append(gate)
        rows.append(
            GateResult(
                gate_result_id=gate.gate_result_id,
                gate_run_id=run.gate_run_id,
                table=gate.table,
                table_version=version,
                suite=gate.suite,
                passed=gate.passed,
                expectations=outcomes,
                reference_versions=json.dumps(reference_versions, sort_keys=True),
                engine=engine,
                data_docs=page,
                started_at=started,
                finished_at=_now(),
            ).model_dump()
        )
        log.info("gate %s@%s: %s", gate.table, version, "passed" if gate.passed else "FAILED")
    spec = catalog.OPS_GATE_RESULTS
    lake.append(spec, pa.Table.from_pylist(rows, schema=spec.schema))
    run.docs_index = gxc.build_docs()
    return run


def open_docs(index: str) -> bool:
    """Open the Data Docs index in a browser (False when none could be started)."""
    import webbrowser

    return webbrowser.open(Path(index).as_uri())
