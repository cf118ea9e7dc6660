"""Row-level expectations inside the gold jobs: a run whose example breaks a row-level rule of
gold.examples' contract, planted through the jobs' input (silver.events), lands in gold.rejected
under that expectation's name instead of gold.examples, and the gate then passes those rules on
the version gold_examples committed (the gate only blocks; it edits nothing)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from gold_runs import recovery_run

from tracelake.jobs.gold import examples, rejected
from tracelake.jobs.gold._assembly import CONTRACT_STAGE
from tracelake.jobs.lake import catalog
from tracelake.jobs.quality.gates import run_gates
from tracelake.jobs.quality.rows import row_filter
from tracelake.jobs.runner import run_job
from tracelake.schemas.privacy import SCRUB_COUNT_FIELD

from ..quality.conftest import runs_rows
from .conftest import ingest_events

pytestmark = pytest.mark.spark


def test_a_row_failing_its_contract_goes_to_rejected_and_the_gate_passes(ctx, tmp_path, spark):
    planted = recovery_run("gold-planted-cost")
    # A negative step cost: ingest quarantines one (the event model's ge=0), so it is planted in
    # silver.events, the gold jobs' input; its example's cost_usd breaks the contract's min 0.
    ingest_events(ctx, tmp_path / "a", recovery_run() + planted, "a")
    events = ctx.lake.read(catalog.BRONZE_EVENTS)
    cost = pc.if_else(
        pc.equal(events["event_id"], planted[7]["event_id"]), -3.0, events["cost_usd"]
    )
    events = events.set_column(events.schema.get_field_index("cost_usd"), "cost_usd", cost)
    events = events.append_column(SCRUB_COUNT_FIELD, pa.array([0] * events.num_rows, pa.int32()))
    ctx.lake.append(catalog.SILVER_EVENTS, events.select(catalog.SILVER_EVENTS.schema.names))
    ctx.lake.ensure(catalog.SILVER_SYNTHETIC_EVENTS)
    ctx.lake.ensure(catalog.SILVER_RUN_PATTERNS)
    ctx.lake.ensure(catalog.SILVER_COMPONENT_EVOLUTION)
    for job in (examples.JOB, rejected.JOB):
        assert run_job(ctx, job).status == "succeeded", job.name

    kept = {r["run_id"] for r in ctx.lake.read(catalog.GOLD_EXAMPLES).to_pylist()}
    assert kept == {"gold-recovery"}
    (row,) = [r for r in ctx.lake.read(catalog.GOLD_REJECTED).to_pylist()]
    assert row["run_id"] == "gold-planted-cost" and row["stage"] == CONTRACT_STAGE
    assert row["reason_code"] == "gold.examples.cost_usd.range"
    assert row["reason"].startswith("gold.examples.cost_usd.range: cost_usd -2.9")  # -3.0 + 0.013
    assert row["event_ids"] == [e["event_id"] for e in planted]

    ctx.lake.append(catalog.SILVER_RUNS, _runs(kept))
    run = run_gates(ctx, ["gold.examples"], spark=spark)
    (result,) = run.results
    assert result.table_version == ctx.lake.version(catalog.GOLD_EXAMPLES)
    row_level = {r.name for r in row_filter("gold.examples").rules}
    checked = [e for e in result.expectations if e.name in row_level]
    assert {e.name for e in checked} == row_level
    assert all(e.passed for e in checked), [e.name for e in checked if not e.passed]
    # Every rule but the dataset-level ones passes; of those, one example is too few for the
    # per-phase null share of its record fields (a gate-only rule: it blocks, nothing filters).
    assert [e.name for e in result.expectations if not e.passed and e.family != "dataset"] == []
    assert run.failing() in ([], ["gold.examples.record_field_null_share"])

    # gold_examples ran the filter on every row it committed: the gate judged the row-level
    # rules from that commit, and says so
    committed = ctx.lake.version(catalog.GOLD_EXAMPLES)
    assert result.checked_by == [committed]
    assert all('"checked_by_commits"' in e.observed_value for e in checked)
    others = [e for e in result.expectations if e.name not in row_level]
    assert not any("checked_by_commits" in e.observed_value for e in others)
    # --remeasure runs them: same outcomes, no commit quoted
    again = run_gates(ctx, ["gold.examples"], spark=spark, remeasure=True).results[0]
    assert again.checked_by == []
    assert {e.name: e.passed for e in again.expectations} == {
        e.name: e.passed for e in result.expectations
    }

    # A row written past the jobs (no filter ran) makes the gate run the rules itself, and the
    # planted cost fails it
    bad = ctx.lake.read(catalog.GOLD_EXAMPLES).to_pylist()[0]
    bad.update(example_id="planted-unchecked", cost_usd=-1.0)
    ctx.lake.append(
        catalog.GOLD_EXAMPLES, pa.Table.from_pylist([bad], catalog.GOLD_EXAMPLES.schema)
    )
    unchecked = run_gates(ctx, ["gold.examples"], spark=spark).results[0]
    assert unchecked.checked_by == []
    assert "gold.examples.cost_usd.range" in unchecked.failing()


def _runs(run_ids):
    return pa.Table.from_pylist(runs_rows(sorted(run_ids)), schema=catalog.SILVER_RUNS.schema)
