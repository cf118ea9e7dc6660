"""The gold jobs on real Spark and Delta: read = examples + rejected, every row validates,
exactly once, incremental equals full, splits stay put, human feedback wins over rules."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from gold_runs import bad_runs, recovery_run

from tracelake.jobs import registry
from tracelake.jobs.gold import constitutional_pairs, examples, preferences, rejected
from tracelake.jobs.gold.assemble import RunFacts, assemble
from tracelake.jobs.gold.show import record_feedback
from tracelake.jobs.lake import catalog
from tracelake.jobs.runner import run_job
from tracelake.jobs.settings import ExpandSettings
from tracelake.jobs.silver import (
    component_evolution,
    component_usage,
    patterns,
    run_patterns,
    runs,
    scrub_events,
    synthetic_events,
)
from tracelake.jobs.simulate.runs import generate_runs
from tracelake.schemas.gold import ExampleRow, PreferenceRow, RejectedRow, record_schema

from .conftest import ingest_events

pytestmark = pytest.mark.spark
GOLD_JOBS = (examples.JOB, rejected.JOB, preferences.JOB, constitutional_pairs.JOB)
# What the gold jobs read, and nothing else of `tracelake build` (which discovers the gold jobs
# like any other: checked below), to keep this test short.
UPSTREAM = (
    scrub_events.JOB,
    runs.JOB,
    component_usage.JOB,
    component_evolution.JOB,
    patterns.JOB,
    run_patterns.JOB,
    synthetic_events.JOB,
)


def _build(ctx) -> None:
    for job in (*UPSTREAM, *GOLD_JOBS):
        assert run_job(ctx, job).status in ("succeeded", "noop"), job.name


def test_build_runs_the_gold_jobs_after_their_sources():
    order = [spec.name for spec in registry.discover()]
    for job in GOLD_JOBS:
        assert job.name in order
    assert order.index("gold_examples") > order.index("run_patterns")
    assert order.index("gold_preferences") > order.index("gold_examples")
    assert order.index("gold_constitutional_pairs") > order.index("synthetic_events")


CONTRACT = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "contracts" / "gold_examples.yaml").read_text()
)


def _rows(ctx, spec):
    return ctx.lake.read(spec).to_pylist() if ctx.lake.version(spec) is not None else []


def _run_ids(ctx, spec):
    return {r["run_id"] for r in ctx.lake.read(spec, columns=["run_id"]).to_pylist()}


def _without(rows, *columns):
    return sorted(
        json.dumps({k: v for k, v in r.items() if k not in columns}, sort_keys=True, default=str)
        for r in rows
    )


def test_gold_tables_end_to_end(ctx, tmp_path):
    ctx.settings.expand = ExpandSettings(variations_per_seed=3, seed=2)
    bad = bad_runs()
    hand_made = recovery_run() + [e for events in bad.values() for e in events]
    simulated = [e for run in generate_runs(5, 4) for e in run]
    # the no_end run's end arrives late, in the second batch
    late_end = {**recovery_run("gold-bad-no-end")[-1], "seq": 99}
    late_end["event_id"] = "gold-bad-no-end-099"
    ingest_events(ctx, tmp_path / "a", hand_made + simulated, "a")
    _build(ctx)

    # read = examples + rejected, disjoint
    read = _run_ids(ctx, catalog.SILVER_EVENTS) | _run_ids(ctx, catalog.SILVER_SYNTHETIC_EVENTS)
    ex_rows, rej_rows = _rows(ctx, catalog.GOLD_EXAMPLES), _rows(ctx, catalog.GOLD_REJECTED)
    ex_ids = {r["run_id"] for r in ex_rows}
    rej_ids = {r["run_id"] for r in rej_rows if r["stage"] == "assemble"}
    assert ex_ids | rej_ids == read and not ex_ids & rej_ids
    codes = {r["run_id"]: r["reason_code"] for r in rej_rows}
    for code, events in bad.items():
        assert codes[events[0]["run_id"]] == code
    assert any(r["synthetic"] for r in ex_rows)

    # every row validates; weights as documented; one split per family
    schema = record_schema()
    families: dict[str, set[str]] = {}
    for row in ex_rows:
        ExampleRow.model_validate(row)
        jsonschema.validate(json.loads(row["record"]), schema)
        for m in row["messages"]:
            assert m["weight"] == 0.0 if m["role"] != "assistant" else m["weight"] in (0.0, 1.0)
        families.setdefault(row["family_key"], set()).add(row["split"])
    assert all(len(s) == 1 for s in families.values())
    for row in rej_rows:
        RejectedRow.model_validate(row)
    for row in _rows(ctx, catalog.GOLD_PREFERENCES):
        PreferenceRow.model_validate(row)

    # the lake's row is the pure assembly's (lineage: the versions read, the pattern)
    (golden,) = [r for r in ex_rows if r["run_id"] == "gold-recovery"]
    pure = assemble(
        recovery_run(),
        RunFacts(pattern=golden["pattern"], source_versions=golden["source_versions"]),
    ).example
    assert {k: golden[k] for k in pure} == pure
    assert set(json.loads(golden["source_versions"])) == {
        "silver.events",
        "silver.synthetic_events",
        "silver.run_patterns",
        "silver.component_evolution",
    }

    # exactly once: nothing new, nothing written
    for job in GOLD_JOBS:
        assert run_job(ctx, job).status == "noop", job.name

    # human feedback wins over the rule pair of the same two runs
    rule_pairs = [p for p in _rows(ctx, catalog.GOLD_PREFERENCES) if p["source"] == "rule"]
    if rule_pairs:
        flip = rule_pairs[0]
        record_feedback(
            ctx,
            run_id=flip["rejected_run_id"],
            over=flip["chosen_run_id"],
            annotator="test",
            note="the shorter answer is enough",
        )
        assert run_job(ctx, preferences.JOB).status == "succeeded"
        same = [
            p
            for p in _rows(ctx, catalog.GOLD_PREFERENCES)
            if {p["chosen_run_id"], p["rejected_run_id"]}
            == {flip["chosen_run_id"], flip["rejected_run_id"]}
        ]
        assert [(p["source"], p["chosen_run_id"], p["annotator"]) for p in same] == [
            ("human", flip["rejected_run_id"], "test")
        ]

    # incremental: a late end makes the no_end run usable; nothing else moves
    splits = {r["run_id"]: r["split"] for r in ex_rows}
    ingest_events(ctx, tmp_path / "b", [late_end], "b")
    _build(ctx)
    after = _rows(ctx, catalog.GOLD_EXAMPLES)
    assert "gold-bad-no-end" in {r["run_id"] for r in after}
    assert "gold-bad-no-end" not in {
        r["run_id"] for r in _rows(ctx, catalog.GOLD_REJECTED) if r["stage"] == "assemble"
    }
    assert {r["run_id"]: r["split"] for r in after if r["run_id"] in splits} == splits

    # and equals a full recomputation (lineage columns aside: untouched rows keep the versions
    # they were assembled from)
    incremental = {s: _rows(ctx, s) for s in (catalog.GOLD_EXAMPLES, catalog.GOLD_REJECTED)}
    for job in (examples.JOB, rejected.JOB):
        assert run_job(ctx, job, full=True).status == "succeeded"
    for spec, rows in incremental.items():
        assert _without(_rows(ctx, spec), "source_versions") == _without(rows, "source_versions")

    # null shares stay within the contract's bounds
    bounds = CONTRACT["null_share_max"]
    for phase in {r["phase"] for r in after}:
        rows = [r for r in after if r["phase"] == phase]
        for field, bound in bounds.items():
            share = sum(field in r["null_fields"] for r in rows) / len(rows)
            assert share <= bound, (phase, field, share)
