"""The quality gates with the real parts: GX 1.x suites generated from the contracts, run as
Checkpoints on Spark DataFrames read from Delta; results in ops.gate_results; the export refuses
what failed; Data Docs drawn by headless Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error, run_cli
from typer.testing import CliRunner

from tracelake.jobs.context import JobContext
from tracelake.jobs.errors import GateFailedError
from tracelake.jobs.export.job import GATE_RESULTS, NAMED_FAILURES, export_dataset
from tracelake.jobs.lake import catalog
from tracelake.jobs.quality.contracts import load_contract
from tracelake.jobs.quality.gates import run_gates
from tracelake.jobs.quality.suites import rules_for
from tracelake.schemas.gates import RULE_FAMILIES
from tracelake.schemas.manifest import read_manifest

from .conftest import example_rows, strict_tools, write_gated_lake

pytestmark = pytest.mark.spark

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
)

# One planted violation per rule family (row index -> change), and what each must fail.
PLANTED = {
    0: ({"steps": 0}, ["gold.examples.steps.range"]),  # column constraint (min 1)
    3: ({"run_id": "run-0006"}, ["gold.examples.run_id.unique"]),  # key
    5: ({"phase": "unknown_phase"}, ["gold.examples.phase.allowed"]),  # allowed values
    7: ({"record": "{not json"}, ["gold.examples.record.json", "gold.examples.record.json_schema"]),
    12: ({"run_id": "run-ghost"}, ["gold.examples.run_in_silver_runs"]),  # referential
    13: ({"family_key": "fam-2"}, ["gold.examples.split_by_family"]),  # dataset: split leak
    14: (
        {"goal": "deploy with key AKIAZ7QRSTUVWXY23456"},
        ["gold.examples.no_secret_or_personal_data"],  # dataset: the scrub's detectors
    ),
    # format: the row's tools take no parameters, so its calls' arguments break their schema
    16: ({"tools": strict_tools()}, ["gold.examples.messages.tool_calls_match_tools"]),
}


@pytest.mark.parametrize(
    "table", ["gold.examples", "gold.preferences", "gold.constitutional_pairs", "silver.runs"]
)
def test_every_contract_rule_becomes_a_named_expectation(table: str) -> None:
    contract = load_contract(catalog.get(table))
    rules = rules_for(contract)
    names = [r.name for r in rules]
    assert len(names) == len(set(names)) and all(n.startswith(table + ".") for n in names)
    assert {r.family for r in rules} <= set(RULE_FAMILIES)
    for column, rule in contract["columns"].items():
        if rule.get("nullable") is False:
            assert f"{table}.{column}.not_null" in names
        if "allowed" in rule:
            assert f"{table}.{column}.allowed" in names
    assert f"{table}.{contract['key'][0]}.unique" in names


def test_a_clean_build_passes_and_its_data_docs_render(
    gated_ctx: JobContext, spark, tmp_path: Path
) -> None:
    run = run_gates(gated_ctx, spark=spark)
    assert run.passed, run.failing()
    lake = gated_ctx.lake
    results = {r.table: r for r in run.results}
    assert set(results) == {"gold.examples", "gold.preferences", "gold.constitutional_pairs"}
    for table, result in results.items():
        assert result.table_version == lake.version(catalog.get(table))
        assert result.expectations and all(e.passed for e in result.expectations)
    stored = lake.read(GATE_RESULTS).to_pylist()
    assert {r["gate_result_id"] for r in stored} == {r.gate_result_id for r in run.results}
    examples = next(r for r in stored if r["table"] == "gold.examples")
    assert {e["family"] for e in examples["expectations"]} == set(RULE_FAMILIES)
    runs_version = lake.version(catalog.SILVER_RUNS)
    assert f'"silver.runs": {runs_version}' in examples["reference_versions"]
    index_version = lake.version(catalog.GOLD_DEDUP_INDEX)
    assert f'"gold.dedup_index": {index_version}' in examples["reference_versions"]
    (dedup,) = [e for e in examples["expectations"] if e["name"].endswith("duplicate_share")]
    observed = json.loads(dedup["observed_value"])  # none left; curation dropped a third
    assert observed["value"] == 0 and observed["dropped_share"] == pytest.approx(1 / 3)
    # Spark measured, GX judged: the semantic expectation types are what the results show
    types = {e["name"]: e["expectation_type"] for e in examples["expectations"]}
    assert types["gold.examples.goal.not_null"] == "expect_column_values_to_not_be_null"
    assert types["gold.examples.run_id.unique"] == "expect_column_values_to_be_unique"
    assert types["gold.examples.split.allowed"] == "expect_column_values_to_be_in_set"
    assert types["gold.examples.cost_usd.range"] == "expect_column_values_to_be_between"
    assert types["gold.examples.goal.min_length"] == "expect_column_value_lengths_to_be_between"
    # The gates passed: the export proceeds and records the result it consulted.
    manifest = read_manifest(export_dataset(gated_ctx, "sft").manifest)
    assert manifest.gate_result_ids == [results["gold.examples"].gate_result_id]
    assert not manifest.gates_forced

    index = Path(run.docs_index or "")
    assert index.is_file() and index.parent == Path(lake.root) / "ops" / "gate_docs"
    html = index.read_text()
    assert "gold.examples" in html and "gold.preferences" in html
    page = Path(results["gold.examples"].data_docs.removeprefix("file://").replace("%40", "@"))
    assert page.is_file()
    # Data Docs render the semantic expectations with Spark's measures as their observations
    text = page.read_text()
    assert "values must never be null" in text and "values must belong to this set" in text
    assert "maximum value" not in text.lower()
    if CHROMIUM is None:
        pytest.skip("needs the chromium package for the screenshot")
    shot = tmp_path / "docs.png"
    subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--window-size=1200,900",
            f"--screenshot={shot}",
            page.as_uri(),  # the validation page: rendered server-side, no CDN script needed
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000  # a blank page compresses to ~5 KB


def test_a_violation_in_each_rule_family_blocks_the_export(
    ctx: JobContext, spark, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean = example_rows(36)
    rows = [dict(r) for r in clean]
    for index, (change, _) in PLANTED.items():
        rows[index].update(change)
    run_ids = [r["run_id"] for r in clean if r["run_id"][:4] == "run-"]
    # dataset: 2 of the 24 kept examples repeat a kept one's content hash (curation missed them)
    write_gated_lake(ctx, rows, run_ids=run_ids, copies=2)
    expected = {name for _, names in PLANTED.values() for name in names}
    expected.add("gold.examples.exact_duplicate_share")

    # `tracelake gate` as a user runs it (in this process: it shares the test's Spark session).
    from tracelake.jobs.cli import app

    monkeypatch.setenv("TRACELAKE_LAKE_ROOT", ctx.settings.lake_root)
    monkeypatch.setenv("TRACELAKE_EXPORT_ROOT", ctx.settings.export_root)
    result = CliRunner().invoke(app, ["gate", "--table", "gold.examples"])
    assert result.exit_code == GateFailedError.exit_code, result.output
    assert "FAILED" in result.output and "Data Docs: " in result.output
    assert "quality gate failed: " in result.output

    (stored,) = ctx.lake.read(GATE_RESULTS).to_pylist()
    failing = {e["name"]: e for e in stored["expectations"] if not e["passed"]}
    assert set(failing) == expected
    families = {e["family"] for e in failing.values()}
    assert families == set(RULE_FAMILIES)
    assert failing["gold.examples.run_id.unique"]["unexpected_count"] == 2
    assert failing["gold.examples.run_in_silver_runs"]["unexpected_count"] == 1
    tool_calls = failing["gold.examples.messages.tool_calls_match_tools"]
    assert tool_calls["unexpected_count"] == 1
    assert "evolution:c16: message 2: " in tool_calls["observed_value"]  # the key and why
    assert "is not a known parameter" in tool_calls["observed_value"]
    steps = json.loads(failing["gold.examples.steps.range"]["observed_value"])
    assert steps["element_count"] == 36 and steps["unexpected_count"] == 1
    assert steps["sample"] == ["0"]  # GX's partial unexpected list: the value itself
    observed = json.loads(failing["gold.examples.exact_duplicate_share"]["observed_value"])
    assert observed["value"] == pytest.approx(2 / 24)
    assert observed["duplicates"] == 2 and observed["shipped"] == 24
    assert observed["dropped_share"] == pytest.approx(12 / 36)
    # The observed value names what was found, never the secret itself.
    leak = failing["gold.examples.no_secret_or_personal_data"]["observed_value"]
    assert "AKIA" not in leak

    with pytest.raises(GateFailedError) as refused:
        export_dataset(ctx, "sft")
    message = str(refused.value)
    assert "\n" not in message and "--force" in message
    named = [name for name in expected if name in message]  # the first few, then a count
    assert len(named) == NAMED_FAILURES and f"and {len(expected) - NAMED_FAILURES} more" in message
    forced = read_manifest(export_dataset(ctx, "sft", force=True).manifest)
    assert forced.gates_forced and forced.gate_result_ids == [stored["gate_result_id"]]


def test_gate_bad_input_is_one_line(tmp_path: Path) -> None:
    env = {"TRACELAKE_LAKE_ROOT": str(tmp_path / "lake")}
    assert_one_line_error(
        run_cli("gate", "--table", "gold.nope", cwd=tmp_path, env=env), "unknown table"
    )
    assert_one_line_error(
        run_cli("gate", "--table", "gold.examples", cwd=tmp_path, env=env),
        "does not exist yet",
        "tracelake build",
    )


def test_the_dag_gate_task_passes_a_lake_without_gold(
    ctx: JobContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export DAG's gate task (tasks.run_gates): nothing to gate is no failure."""
    from tracelake.jobs.orchestration import tasks

    monkeypatch.setenv("TRACELAKE_LAKE_ROOT", ctx.settings.lake_root)
    result = tasks.run_gates()
    assert result["passed"] and result["tables"] == {}
    assert sorted(result["skipped"]) == sorted(
        ["gold.examples", "gold.preferences", "gold.constitutional_pairs"]
    )
