"""silver.synthetic_*: the expansion jobs on Spark (mapInArrow per seed run), exactly once,
incremental equal to full, lineage back to silver.runs, events that replay."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from tracelake.jobs import build
from tracelake.jobs.expand.verify import verify
from tracelake.jobs.lake import catalog
from tracelake.jobs.runner import run_job
from tracelake.jobs.settings import ExpandSettings
from tracelake.jobs.silver import synthetic_events, synthetic_rejected, synthetic_runs
from tracelake.jobs.simulate.runs import generate_runs

from .conftest import ingest_events

pytestmark = pytest.mark.spark
SYN = (
    catalog.SILVER_SYNTHETIC_EVENTS,
    catalog.SILVER_SYNTHETIC_RUNS,
    catalog.SILVER_SYNTHETIC_REJECTED,
)
# The expansion jobs and what they read (the gold jobs that read them are tested elsewhere).
EXPANSION_BUILD = (
    "scrub_events",
    "project_runs",
    "component_usage",
    "synthetic_events",
    "synthetic_runs",
    "synthetic_rejected",
)


def _rows(ctx, spec, key):
    if ctx.lake.version(spec) is None:
        return []
    return sorted(ctx.lake.read(spec).to_pylist(), key=lambda r: r[key])


def _snapshot(ctx):
    return (
        [(r["event_id"], r["content_hash"]) for r in _rows(ctx, SYN[0], "event_id")],
        _rows(ctx, SYN[1], "synthetic_run_id"),
        _rows(ctx, SYN[2], "candidate_id"),
    )


def _as_event(row: dict) -> dict:
    e = {
        k: v
        for k, v in row.items()
        if k not in ("content_hash", "batch_id", "ingested_at", "event_date") and v is not None
    }
    e["attributes"] = dict(row["attributes"])
    e["ts"] = row["ts"].isoformat().replace("+00:00", "Z")
    return e


def test_expansion_jobs_incremental_equals_full_and_lineage_round_trips(ctx, tmp_path):
    ctx.settings.expand = ExpandSettings(variations_per_seed=2, seed=2)
    runs = list(generate_runs(9, 8))
    first, second = runs[:6], runs[6:]
    ingest_events(ctx, tmp_path / "a", [e for r in first for e in r], "a")
    assert build.run(ctx, only=EXPANSION_BUILD).status == "succeeded"
    ingest_events(ctx, tmp_path / "b", [e for r in second for e in r], "b")
    assert build.run(ctx, only=EXPANSION_BUILD).status == "succeeded"
    for job in (synthetic_events.JOB, synthetic_runs.JOB, synthetic_rejected.JOB):
        assert run_job(ctx, job).status == "noop"  # nothing new: exactly once
    incremental = _snapshot(ctx)

    build.run(ctx, full=True, only=EXPANSION_BUILD)
    assert _snapshot(ctx) == incremental

    events, lineage, rejected = (_rows(ctx, s, s.key[0]) for s in SYN)
    seeds = {r["run_id"] for r in ctx.lake.read(catalog.SILVER_RUNS).to_pylist()}
    assert lineage and {r["seed_run_id"] for r in lineage} <= seeds
    assert {r["seed_run_id"] for r in lineage} | {r["seed_run_id"] for r in rejected} == {
        r[0]["run_id"] for r in runs if r[-1]["event_type"] in ("run_completed", "run_failed")
    }
    by_run = defaultdict(list)
    for row in events:
        by_run[row["run_id"]].append(_as_event(row))
    assert set(by_run) == {r["synthetic_run_id"] for r in lineage}
    for row in lineage:
        run_events = sorted(by_run[row["synthetic_run_id"]], key=lambda e: e["seq"])
        assert run_events[0]["attributes"]["seed_run_id"] == row["seed_run_id"]
        assert run_events[0]["attributes"]["synthetic"] == "true"
        assert verify(run_events) is None  # the stored events replay from the specs alone
        assert json.loads(row["verification"]) == {
            "format": "pass",
            "execution": "pass",
            "semantic": "pass",
        }
    assert all(r["check"] and r["reason"] for r in rejected)
