"""`tracelake erase`: a run or a value leaves bronze (the one sanctioned rewrite of an
append-only table) and every derived table, audited in ops.erasures and the Delta log, with the
export manifests that listed it; the old files are no longer referenced (VACUUM removes them)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from tracelake.jobs import build
from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog
from tracelake.jobs.silver import erase as erase_job

from .conftest import BASE_TS, ingest_events, make_run

pytestmark = pytest.mark.spark
NAME = "Jane Q. Roe"  # personal data no detector knows: only an erasure removes it
DERIVED = (catalog.SILVER_EVENTS, catalog.OPS_SCRUB_LOG, catalog.SILVER_RUNS)
# The jobs writing DERIVED: a rebuild of them alone is what the erased tables are compared with.
DERIVED_JOBS = ("scrub_events", "scrub_log", "project_runs")


def _lake(ctx: JobContext, tmp_path: Path, rng) -> int:
    """A lake with three runs; returns the number of events of run `victim`."""
    victim = make_run("victim", BASE_TS, rng, steps=2)
    victim[0]["goal"] = f"write to {NAME} about the refund"
    victim[1]["reasoning"] = "mail jane@example.org"
    other = make_run("other", BASE_TS, rng, steps=2)
    other[2]["input"] = orjson.dumps({"note": f"cc {NAME}", "to": "x@example.com"}).decode()
    other[3]["attributes"] = {"customer": NAME}
    ingest_events(ctx, tmp_path / "in", victim + other, "a")
    later = make_run("later", BASE_TS + timedelta(days=3), rng, steps=1)
    ingest_events(ctx, tmp_path / "in", later, "b")
    assert build.run(ctx).status == "succeeded"
    return len(victim)


def _dump(ctx: JobContext, spec) -> str:
    return orjson.dumps(ctx.lake.read(spec).to_pylist(), default=str).decode()


def _rows(ctx: JobContext, spec) -> list[dict]:
    rows = ctx.lake.read(spec).to_pylist()
    return sorted(orjson.dumps(r, default=str, option=orjson.OPT_SORT_KEYS).decode() for r in rows)


def _files(ctx: JobContext) -> set[str]:
    """bronze.events' data files (relative paths) in its current version."""
    table = ctx.lake.table(catalog.BRONZE_EVENTS)
    return {a["path"] for a in pa.table(table.get_add_actions(flatten=True)).to_pylist()}


def _manifest(ctx: JobContext, name: str, runs: list[str]) -> Path:
    path = Path(ctx.settings.export_root) / name / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"dataset": name, "run_ids": runs}))
    return path


def test_erase_a_run_everywhere_with_an_audit_and_no_trace_of_it(ctx, tmp_path, rng, spark):
    victim_events = _lake(ctx, tmp_path, rng)
    listed = _manifest(ctx, "ds-1", ["victim", "other"])
    _manifest(ctx, "ds-2", ["later"])
    files_before = _files(ctx)
    others_before = {
        s.qualified_name: [r for r in _rows(ctx, s) if '"victim"' not in r] for s in DERIVED
    }

    result = erase_job.erase(ctx, run_id="victim", reason="GDPR-42", spark=spark)
    assert result.status == "succeeded", result.message

    # Nowhere in the lake: the propagated tables and every table derived from them.
    existing = [s for s in catalog.all_tables() if ctx.lake.version(s) is not None]
    assert {
        catalog.SILVER_COMPONENT_USAGE.qualified_name,
        catalog.SILVER_PATTERNS.qualified_name,
    } <= {s.qualified_name for s in existing}
    for spec in existing:
        assert '"victim"' not in _dump(ctx, spec), spec.qualified_name
    # Everything else is exactly as it was.
    for spec in DERIVED:
        assert _rows(ctx, spec) == others_before[spec.qualified_name], spec.qualified_name
    assert result.details["export_manifests"] == [str(listed)]

    (record,) = ctx.lake.read(catalog.OPS_ERASURES).to_pylist()
    assert record["selector"] == "run" and record["reason"] == "GDPR-42"
    assert record["selector_sha256"] == hashlib.sha256(b"victim").hexdigest()
    assert record["rows_affected"] == victim_events and record["files_rewritten"] >= 1
    assert record["export_manifests"] == [str(listed)]
    assert "victim" not in _dump(ctx, catalog.OPS_ERASURES)
    assert "victim" not in _dump(ctx, catalog.OPS_JOB_RUNS)

    # Bronze is append-only again, and the rewrite is in its log with the erasure id.
    bronze = ctx.lake.table(catalog.BRONZE_EVENTS)
    assert bronze.metadata().configuration["delta.appendOnly"] == "true"
    commits = [h for h in bronze.history(3) if h.get(erase_job.ERASURE_KEY)]
    assert len(commits) == 3 and {h[erase_job.ERASURE_KEY] for h in commits} == {
        record["erasure_id"]
    }
    # The files that held the run are no longer part of the table; VACUUM would delete them.
    gone = files_before - _files(ctx)
    assert gone
    vacuumable = bronze.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=True)
    assert gone <= {p.split("/events/")[-1] for p in vacuumable}

    # The bookmarks moved past the rewrite: a build writes nothing, and new data still flows.
    rebuilt = build.run(ctx)
    assert rebuilt.status == "noop", {
        job: d["message"] for job, d in rebuilt.details.items() if d["status"] != "noop"
    }
    ingest_events(ctx, tmp_path / "in", make_run("new", BASE_TS, rng, steps=1), "c")
    assert build.run(ctx).status == "succeeded"
    incremental = {s.qualified_name: _rows(ctx, s) for s in DERIVED}
    build.run(ctx, full=True, only=DERIVED_JOBS)
    assert {s.qualified_name: _rows(ctx, s) for s in DERIVED} == incremental


def test_erase_a_value_wherever_it_occurs(ctx, tmp_path, rng, spark):
    _lake(ctx, tmp_path, rng)
    counts = {s.qualified_name: ctx.lake.count(s) for s in (catalog.BRONZE_EVENTS, *DERIVED)}
    assert NAME in _dump(ctx, catalog.SILVER_RUNS)  # no detector knows a name

    result = erase_job.erase(ctx, value=NAME, spark=spark)
    assert result.status == "succeeded", result.message
    assert result.details["rows_affected"] == 3
    for spec in (catalog.BRONZE_EVENTS, *DERIVED):
        assert NAME not in _dump(ctx, spec), spec.qualified_name
        assert ctx.lake.count(spec) == counts[spec.qualified_name]
    events = {r["event_id"]: r for r in ctx.lake.read(catalog.SILVER_EVENTS).to_pylist()}
    assert events["victim-0000"]["goal"].startswith("write to <ERASED:value:")
    assert dict(events["other-0003"]["attributes"])["customer"].startswith("<ERASED:value:")
    assert "x@example.com" not in _dump(ctx, catalog.SILVER_EVENTS)  # still scrubbed
    (record,) = ctx.lake.read(catalog.OPS_ERASURES).to_pylist()
    assert record["runs_affected"] == ["other", "victim"]
    assert NAME not in _dump(ctx, catalog.OPS_ERASURES)

    incremental = {s.qualified_name: _rows(ctx, s) for s in DERIVED}
    build.run(ctx, full=True, only=DERIVED_JOBS)
    assert {s.qualified_name: _rows(ctx, s) for s in DERIVED} == incremental


def test_erase_rejects_an_ambiguous_or_too_short_selector(ctx):
    with pytest.raises(erase_job.ErasureError, match="exactly one"):
        erase_job.erase(ctx, run_id="a", value="bbbb")
    with pytest.raises(erase_job.ErasureError, match="at least 4"):
        erase_job.erase(ctx, value="ab")
    with pytest.raises(erase_job.ErasureError, match="does not exist yet"):
        erase_job.erase(ctx, run_id="a")
