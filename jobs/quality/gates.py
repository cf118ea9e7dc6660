"""`tracelake gate`: validate tables against the suites generated from their contracts.

Each table is read through the lake's Spark bridge (jobs/lake/spark_io, either Delta engine) at
its current version, cached once (every expectation then reads memory, not the table), and
validated by a GX Checkpoint in an ephemeral GX context. Each table version gets one row in
`ops.gate_results` with every expectation's outcome; Data Docs are rebuilt from the run. A gate
only reads: it never edits the version it validated (docs/gates.md).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


def outcome_of(result: Any) -> ExpectationOutcome:
    """One GX ExpectationValidationResult as an ExpectationOutcome row."""
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
    if sample:
        observed["sample"] = _short(list(sample))
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
        column=config.kwargs.get("column"),
        passed=bool(result.success),
        observed_value=text[:OBSERVED_CHARS],
        unexpected_count=int(count) if isinstance(count, int | float) else None,
    )


class _GX:
    """One ephemeral GX context for a gate run: a Spark data source, a Data Docs site."""

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
        self.source = self.context.data_sources.add_spark(name="tracelake")

    def validate(
        self, table: str, version: int, suite: Any, df: Any, run_name: str
    ) -> tuple[Any, str]:
        """(the validation result, its Data Docs page or '')."""
        gx = self.gx
        asset = self.source.add_dataframe_asset(name=table)
        batch = asset.add_batch_definition_whole_dataframe(f"{table}@v{version}")
        suite = self.context.suites.add(suite)
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=f"{table}@v{version}", data=batch, suite=suite)
        )
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=f"gate {table}@v{version}",
                validation_definitions=[definition],
                result_format={"result_format": "SUMMARY"},
            )
        )
        from great_expectations.core.run_identifier import RunIdentifier

        result = checkpoint.run(
            batch_parameters={"dataframe": df}, run_id=RunIdentifier(run_name=run_name)
        )
        ((identifier, validation),) = result.run_results.items()
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
    from .suites import reference_view, references

    versions: dict[str, int | None] = {}
    for ref in references(contract):
        spec = catalog.get(ref["table"])
        version = lake.version(spec)
        if version is None:
            schema = spark_io.spark_schema(pa.schema([spec.schema.field(ref["to"])]))
            df = spark.createDataFrame([], schema)
        else:
            df = spark_io.read(spark, spec, lake=lake, columns=[ref["to"]], version=version)
        df.createOrReplaceTempView(reference_view(ref["table"]))
        versions[ref["table"]] = version
    return versions


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
) -> GateRun:
    """Validate each table at its current version; append the results to ops.gate_results.

    tables: qualified names (default: the tables the export reads; those that do not exist
    yet are skipped). A named table that does not exist is an error."""
    from tracelake.schemas.gates import GateResult

    from ..spark import delta_engine, get_session
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
    engine = delta_engine(spark)
    gxc = _GX(folder)
    rows: list[dict[str, Any]] = []
    for spec, version in todo:
        contract = load_contract(spec)
        rules = rules_for(contract)
        reference_versions = _register_references(spark, lake, contract)
        df = spark_io.read(spark, spec, lake=lake, version=version).cache()
        try:
            validation, page = gxc.validate(
                spec.qualified_name, version, build_suite(contract, rules), df, run.gate_run_id
            )
        finally:
            df.unpersist()
        outcomes = [outcome_of(r) for r in validation.results]
        gate = TableGate(
            gate_result_id=uuid.uuid4().hex,
            table=spec.qualified_name,
            table_version=version,
            suite=suite_name(contract),
            passed=bool(validation.success) and all(o.passed for o in outcomes),
            expectations=outcomes,
            data_docs=page,
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
