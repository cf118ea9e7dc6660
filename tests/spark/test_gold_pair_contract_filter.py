"""Row-level expectations inside the pair jobs: a pair of gold.preferences or
gold.constitutional_pairs that breaks a row-level rule of its table's contract (here: tool calls
whose arguments break the pair's tools, planted through the jobs' input, gold.examples) lands in
gold.rejected (its table's stage, run_id the pair's id) under that expectation's name instead of
in the table, and the gate then passes those rules on the version the job committed."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from gold_runs import recovery_run

from tracelake.jobs.gold import constitutional_pairs, examples, preferences
from tracelake.jobs.lake import catalog
from tracelake.jobs.quality.gates import run_gates
from tracelake.jobs.quality.rows import row_filter
from tracelake.jobs.runner import run_job
from tracelake.jobs.simulate.runs import generate_runs

from ..quality.conftest import runs_rows
from .test_gold import _other_sources, _silver_events, _synthetic_events

pytestmark = pytest.mark.spark

PAIR_JOBS = (
    (preferences.JOB, catalog.GOLD_PREFERENCES, preferences.CONTRACT_STAGE),
    (
        constitutional_pairs.JOB,
        catalog.GOLD_CONSTITUTIONAL_PAIRS,
        constitutional_pairs.CONTRACT_STAGE,
    ),
)


PAIR_RUNS = {
    "gold.preferences": ("chosen_run_id", "rejected_run_id"),
    "gold.constitutional_pairs": ("violating_run_id", "compliant_run_id"),
}


def _ids(ctx, spec) -> set[str]:
    return {r["pair_id"] for r in ctx.lake.read(spec, columns=["pair_id"]).to_pylist()}


def _strict(tools: str) -> str:
    """The same tools taking no parameter: any argument of a call breaks its tool's schema."""
    strict = {"type": "object", "properties": {}, "additionalProperties": False}
    return json.dumps(
        [{**t, "function": {**t["function"], "parameters": strict}} for t in json.loads(tools)]
    )


def _pairs(ctx, spec) -> dict[str, set[str]]:
    """pair id -> the runs of the pair."""
    columns = PAIR_RUNS[spec.qualified_name]
    rows = ctx.lake.read(spec, columns=["pair_id", *columns]).to_pylist()
    return {r["pair_id"]: {r[c] for c in columns} for r in rows}


def test_pairs_failing_their_contract_go_to_rejected_and_the_gate_passes(ctx, tmp_path, spark):
    seeds = list(generate_runs(5, 3))
    _silver_events(ctx, tmp_path, recovery_run() + [e for run in seeds for e in run], "a")
    assert _synthetic_events(ctx, seeds, variations=8, seed=1) > 0  # as test_gold: gives pairs
    _other_sources(ctx)
    assert run_job(ctx, examples.JOB).status == "succeeded"
    clean = {}
    for job, spec, _ in PAIR_JOBS:
        result = run_job(ctx, job)
        assert result.status == "succeeded", job.name
        assert result.details["contract_rejected"] == 0  # assembly's pairs pass their rules
        clean[spec.qualified_name] = _pairs(ctx, spec)
        assert clean[spec.qualified_name], spec.qualified_name  # the data gives pairs

    # Plant: the examples of one paired family of each table get tools that take no parameter,
    # so every call of theirs breaks its tool's schema (as if a spec had changed under them).
    gold = ctx.lake.read(catalog.GOLD_EXAMPLES)
    family_of = dict(zip(gold["run_id"].to_pylist(), gold["family_key"].to_pylist(), strict=True))
    families = {family_of[min(min(p.values()))] for p in clean.values()}
    planted = pc.is_in(gold["family_key"], pa.array(sorted(families)))
    tools = pc.if_else(
        planted, pa.array([_strict(t) for t in gold["tools"].to_pylist()]), gold["tools"]
    )
    gold = gold.set_column(gold.schema.get_field_index("tools"), "tools", tools)
    original = ctx.lake.read(catalog.GOLD_EXAMPLES)
    ctx.lake.ensure(catalog.GOLD_EXAMPLES).delete()
    ctx.lake.append(catalog.GOLD_EXAMPLES, gold)
    bad_runs = {r for r, f in family_of.items() if f in families}

    for job, spec, stage in PAIR_JOBS:
        table = spec.qualified_name
        result = run_job(ctx, job, full=True)
        assert result.status == "succeeded", job.name
        kept = _ids(ctx, spec)
        rejected = [
            r for r in ctx.lake.read(catalog.GOLD_REJECTED).to_pylist() if r["stage"] == stage
        ]
        assert rejected and result.details["contract_rejected"] == len(rejected)
        ids = {r["run_id"] for r in rejected}
        assert len(ids) == len(rejected) and not ids & kept
        assert ids | kept == set(clean[table])  # pairing is unchanged; only the filter moved rows
        row_level = {r.name for r in row_filter(table).rules}
        for row in rejected:
            assert row["reason_code"] in row_level, row["reason_code"]
            assert row["reason_code"].endswith(".tool_calls_match_tools")
            assert row["reason"].startswith(row["reason_code"] + ": ")
            assert "is not a known parameter" in row["reason"], row["reason"]
        # every rejected pair is one of the planted families'
        assert all(clean[table][i] & bad_runs for i in ids)

        # A rerun replaces the stage's rows: nothing is rejected twice.
        assert run_job(ctx, job, full=True).status == "succeeded"
        again = [r for r in ctx.lake.read(catalog.GOLD_REJECTED).to_pylist() if r["stage"] == stage]
        assert sorted(r["reject_id"] for r in again) == sorted(r["reject_id"] for r in rejected)

    runs = sorted({r for r in family_of if not r.startswith("evolution:")})
    ctx.lake.append(
        catalog.SILVER_RUNS, pa.Table.from_pylist(runs_rows(runs), catalog.SILVER_RUNS.schema)
    )
    pair_tables = [spec.qualified_name for _, spec, _ in PAIR_JOBS]
    # the jobs' commits say they checked every row: a gate judges the row rules from them (a
    # table left without rows needs no commit)
    judged = run_gates(ctx, pair_tables, spark=spark).results
    for gate in judged:
        spec = catalog.get(gate.table)
        held = [ctx.lake.version(spec)] if ctx.lake.count(spec) else []
        assert gate.checked_by == held, gate.table
    # measured again, the committed versions pass every row-level rule
    gates = run_gates(ctx, pair_tables, spark=spark, remeasure=True)
    for gate in gates.results:
        assert gate.checked_by == []
        row_level = {r.name for r in row_filter(gate.table).rules}
        checked = [e for e in gate.expectations if e.name in row_level]
        assert {e.name for e in checked} == row_level
        assert all(e.passed for e in checked), [e.name for e in checked if not e.passed]

    # Fixed: the examples get their tools back; an incremental run of each pair job derives
    # the planted families' pairs again, keeps them, and drops their gold.rejected rows.
    ctx.lake.ensure(catalog.GOLD_EXAMPLES).delete()
    ctx.lake.append(catalog.GOLD_EXAMPLES, original)
    for job, spec, stage in PAIR_JOBS:
        result = run_job(ctx, job)
        assert result.status == "succeeded", job.name
        assert result.details["contract_rejected"] == 0
        stale = [r for r in ctx.lake.read(catalog.GOLD_REJECTED).to_pylist() if r["stage"] == stage]
        assert stale == [], job.name
        assert _pairs(ctx, spec) == clean[spec.qualified_name]
    # the incremental commits checked what they wrote (kept rows included): the gate judges
    # the row rules of the versions, which now hold rows, from the jobs' commits
    for gate in run_gates(ctx, pair_tables, spark=spark).results:
        spec = catalog.get(gate.table)
        assert ctx.lake.count(spec) > 0
        assert gate.checked_by[:1] == [ctx.lake.version(spec)], gate.table
