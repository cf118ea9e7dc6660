"""silver.runs: what one row holds, late events, exactly-once incremental runs that equal a full
rebuild (hypothesis over batch splits), ops.job_runs bookkeeping, the same on S3, and other
engines reading the table identically."""

from __future__ import annotations

import datetime as dt
import json
import random
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracelake.jobs import build
from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog, spark_io
from tracelake.jobs.silver import runs as project_runs
from tracelake.schemas.runs import failures

from .conftest import BASE_TS, ingest_events, make_run

pytestmark = pytest.mark.spark
RUNS = catalog.SILVER_RUNS


def _silver(ctx: JobContext) -> list[dict]:
    return ctx.lake.read(RUNS).sort_by("run_id").to_pylist()


def _job_runs(ctx: JobContext, job: str = project_runs.JOB_NAME) -> list[dict]:
    rows = ctx.lake.read(catalog.OPS_JOB_RUNS).to_pylist()
    return sorted((r for r in rows if r["job"] == job), key=lambda r: r["started_at"])


def _counting_runs() -> dict[str, list[dict]]:
    """Runs that exercise the failure-counting rule of schemas/runs.py."""

    def run(run_id: str, kinds: list[tuple[str, str | None, int | None]]) -> list[dict]:
        out = []
        for seq, (event_type, status, parent) in enumerate(kinds):
            event = {
                "event_id": f"{run_id}-{seq}",
                "run_id": run_id,
                "seq": seq,
                "ts": (BASE_TS + dt.timedelta(seconds=seq)).isoformat(),
                "source": "spark-test",
                "event_type": event_type,
                "component_name": "WebFetch" if event_type.startswith("tool") else None,
            }
            if status:
                event["status"] = status
            if parent is not None:
                event["parent_event_id"] = f"{run_id}-{parent}"
            out.append({k: v for k, v in event.items() if v is not None})
        return out

    return {
        # A failed call: tool_result error + the error event about it = ONE failure.
        "paired": run(
            "paired",
            [
                ("run_started", None, None),
                ("tool_call", "ok", None),
                ("tool_result", "error", 1),
                ("error", "error", 2),
                ("run_completed", "ok", None),
            ],
        ),
        # A failed result without an error event counts; run_failed never does.
        "unpaired": run(
            "unpaired",
            [
                ("run_started", None, None),
                ("tool_result", "error", None),
                ("error", "error", None),
                ("run_failed", "error", None),
            ],
        ),
        "clean": run("clean", [("run_started", None, None), ("run_completed", "ok", None)]),
    }


def test_a_failure_is_counted_once(ctx, tmp_path):
    runs = _counting_runs()
    ingest_events(ctx, tmp_path / "in", [e for r in runs.values() for e in r], "counting")
    with pytest.raises(ValueError, match="unknown job"):
        build.run(ctx, only=("project_runs", "no_such_job"))
    # the projection alone (as bench_projection times it): no other job runs
    result = build.run(ctx, only=("scrub_events", "project_runs"))
    assert set(result.details) == {"scrub_events", "project_runs"}
    assert ctx.lake.version(catalog.SILVER_RUN_ROLES) is None
    rows = {r["run_id"]: r for r in _silver(ctx)}
    assert {k: rows[k]["error_count"] for k in runs} == {"paired": 1, "unpaired": 2, "clean": 0}
    for run_id, events in runs.items():
        reference = failures({"parent_event_id": None, "status": None, **e} for e in events)
        marked = {s["event_id"] for s in rows[run_id]["steps"] if s["is_failure"]}
        assert marked == reference, run_id
    assert rows["paired"]["outcome"] == "success_with_recovery"
    assert rows["unpaired"]["outcome"] == "failure"


def test_a_run_row_holds_goal_ordered_steps_outcome_and_totals(ctx, tmp_path, rng):
    runs = {
        "ok": make_run("ok", BASE_TS, rng, steps=3),
        "recovered": make_run("recovered", BASE_TS, rng, steps=2, with_error=True),
        "failed": make_run("failed", BASE_TS, rng, steps=1, ending="run_failed"),
        "open": make_run("open", BASE_TS, rng, steps=2, ending=None),
    }
    events = [e for run in runs.values() for e in run]
    rng.shuffle(events)  # order in the file must not matter
    ingest_events(ctx, tmp_path / "in", events, "runs")

    result = build.run(ctx)
    assert result.status == "succeeded"
    rows = {r["run_id"]: r for r in _silver(ctx)}
    assert {k: rows[k]["outcome"] for k in runs} == {
        "ok": "success",
        "recovered": "success_with_recovery",
        "failed": "failure",
        "open": "incomplete",
    }
    ok, source = rows["ok"], runs["ok"]
    assert ok["goal"] == "goal of ok" and ok["source"] == "spark-test"
    assert ok["scenario"] == source[0]["scenario"] and ok["mode"] == source[0]["mode"]
    assert [s["seq"] for s in ok["steps"]] == list(range(len(source)))
    assert [s["event_type"] for s in ok["steps"]] == [e["event_type"] for e in source]
    tools = [e for e in source if e["event_type"] == "tool_call"]
    assert ok["components"] == sorted({e["component_name"] for e in tools})
    assert ok["component_versions"] == sorted(
        {f"{e['component_name']}@{e['component_version']}" for e in tools}
    )
    assert ok["total_tokens_in"] == sum(e["tokens_in"] for e in tools)
    assert ok["total_cost_usd"] == pytest.approx(sum(e["cost_usd"] for e in tools))
    assert ok["n_events"] == len(source)
    assert ok["duration_s"] == pytest.approx((ok["ended_at"] - ok["started_at"]).total_seconds())
    assert ok["plan_reasoning"] == "plan for ok: fetch then summarise"
    assert ok["learnings"] == ["learned something in ok"]
    assert ok["final_output"] == "answer of ok"
    assert json.loads(ok["context_json"]) == {"constraints": {"max_cost": 1.5}}
    assert (rows["recovered"]["error_count"], rows["recovered"]["recovery_count"]) == (1, 1)
    assert rows["open"]["ended_at"] is None and rows["open"]["duration_s"] is None


# silver.runs and what it reads (a whole build's rerun is checked on S3 below).
PROJECTION_BUILD = ("scrub_events", "project_runs")


@pytest.mark.parametrize("reads", ["in-process", "spark"])
def test_late_events_update_the_run_and_a_rerun_writes_nothing(
    ctx, tmp_path, rng, reads, monkeypatch
):
    if reads == "spark":  # every small read goes through Spark, as large ones do
        monkeypatch.setattr(project_runs, "LOCAL_READ_MAX_ROWS", -1)
    run = make_run("late", BASE_TS, rng, steps=2)
    other = make_run("other", BASE_TS + timedelta(days=2), rng, steps=2)
    ingest_events(ctx, tmp_path / "in", run[:3] + other, "first")
    build.run(ctx, only=PROJECTION_BUILD)
    before = {r["run_id"]: r for r in _silver(ctx)}
    assert before["late"]["outcome"] == "incomplete" and before["late"]["n_events"] == 3

    ingest_events(ctx, tmp_path / "in", run[3:], "second")
    result = build.run(ctx, only=PROJECTION_BUILD)
    assert result.status == "succeeded"
    assert result.details["project_runs"]["runs_updated"] == 1
    after = {r["run_id"]: r for r in _silver(ctx)}
    assert len(after) == 2
    assert after["late"]["outcome"] == "success" and after["late"]["n_events"] == len(run)
    assert after["other"] == before["other"]

    version = ctx.lake.version(RUNS)
    again = build.run(ctx, only=PROJECTION_BUILD)
    assert again.status == "noop"
    assert ctx.lake.version(RUNS) == version

    records = _job_runs(ctx)
    assert [r["status"] for r in records] == ["succeeded", "succeeded", "noop"]
    first, second, _ = records
    source_v = ctx.lake.version(catalog.SILVER_EVENTS)
    assert json.loads(second["versions_read"]) == {"silver.events": [source_v, source_v]}
    assert json.loads(second["versions_written"]) == {"silver.runs": version}
    assert (first["rows_in"], second["rows_in"]) == (3 + len(other), len(run) - 3)
    assert second["rows_out"] >= 1 and second["duration_s"] > 0


def test_bookmark_is_the_app_transaction_committed_with_the_output(ctx, tmp_path, rng):
    ingest_events(ctx, tmp_path / "in", make_run("a", BASE_TS, rng), "a")
    build.run(ctx)
    source_v = ctx.lake.version(catalog.SILVER_EVENTS)
    assert ctx.lake.txn_version(RUNS, project_runs.JOB_NAME) == source_v
    # The bookmark and the rows are in the same commit of silver.runs.
    last = ctx.lake.history(RUNS, limit=1)[0]
    assert last["tracelake.job"] == project_runs.JOB_NAME  # Delta owns the `job` field
    assert not (Path(ctx.lake.uri(RUNS)) / "_bookmarks").exists()


def _events_for(run_count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    events = []
    for i in range(run_count):
        start = BASE_TS + timedelta(hours=rng.randint(0, 24 * 4), seconds=i)
        ending = rng.choice(["run_completed", "run_failed", None])
        events += make_run(
            f"run-{i}",
            start,
            rng,
            steps=rng.randint(1, 3),
            ending=ending,
            with_error=rng.random() < 0.4,
        )
    return events


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 10_000), batches=st.integers(2, 3), data=st.data())
def test_incremental_equals_full_rebuild_under_any_batch_split(
    ctx_factory, tmp_path_factory, seed, batches, data
):
    ctx = ctx_factory()
    inbox = tmp_path_factory.mktemp("inbox")
    events = _events_for(5, seed)
    # Each event goes to a random batch: runs arrive in pieces, often late and out of order.
    assignment = data.draw(
        st.lists(st.integers(0, batches - 1), min_size=len(events), max_size=len(events))
    )
    for b in range(batches):
        part = [e for e, a in zip(events, assignment, strict=True) if a == b]
        if part:
            ingest_events(ctx, inbox, part, f"batch-{b}")
            _project(ctx)
    incremental = _silver(ctx)
    assert len(incremental) == len({e["run_id"] for e in events})
    assert _project(ctx) == {"noop"}

    assert _project(ctx, full=True) == {"succeeded"}
    assert _silver(ctx) == incremental


def _project(ctx: JobContext, full: bool = False) -> set[str]:
    """silver.runs and the silver.events it reads, not the whole build: the property is the
    projection's, and every other job would multiply the examples' cost."""
    from tracelake.jobs.runner import run_job
    from tracelake.jobs.silver import scrub_events

    return {run_job(ctx, job, full=full).status for job in (scrub_events.JOB, project_runs.JOB)}


@pytest.fixture
def ctx_factory(tmp_path_factory):
    from tracelake.jobs.settings import Settings

    def make() -> JobContext:
        root = tmp_path_factory.mktemp("lake")
        return JobContext.create(Settings(lake_root=str(root)))

    return make


def test_spark_delta_rs_and_duckdb_read_silver_runs_identically(spark, ctx, tmp_path, rng):
    events = _events_for(6, 7)
    ingest_events(ctx, tmp_path / "in", events[: len(events) // 2], "one")
    build.run(ctx)
    ingest_events(ctx, tmp_path / "in", events[len(events) // 2 :], "two")
    build.run(ctx)  # the table now has removed files: readers must honour the log

    columns = ["run_id", "outcome", "n_events", "total_cost_usd", "started_at", "components"]
    by_delta_rs = ctx.lake.read(RUNS, columns=columns).sort_by("run_id")
    by_spark = (
        spark_io.read(spark, RUNS, lake=ctx.lake).select(*columns).orderBy("run_id").toArrow()
    )
    files = [f.uri for f in ctx.lake.files(RUNS)]
    by_duckdb = (
        duckdb.connect()
        .read_parquet(files)
        .project(", ".join(columns))
        .order("run_id")
        .to_arrow_table()
    )
    assert by_spark.num_rows == by_delta_rs.num_rows == 6
    for other in (by_spark, by_duckdb):
        for name in columns:
            left = by_delta_rs.column(name)
            right = other.column(name)
            if pa.types.is_timestamp(left.type):
                right = pc.cast(right, left.type)
            assert left.to_pylist() == right.to_pylist(), name


@pytest.mark.s3
def test_incremental_projection_on_an_s3_lake(s3_settings, tmp_path, rng):
    ctx = JobContext.create(s3_settings)
    run = make_run("s3-run", BASE_TS, rng, steps=2)
    ingest_events(ctx, tmp_path / "in", run[:2], "first")
    assert build.run(ctx).status == "succeeded"
    ingest_events(ctx, tmp_path / "in", run[2:], "second")
    assert build.run(ctx).status == "succeeded"
    version = ctx.lake.version(RUNS)
    assert build.run(ctx).status == "noop" and ctx.lake.version(RUNS) == version
    (row,) = _silver(ctx)
    assert row["n_events"] == len(run) and row["outcome"] == "success"
    build.run(ctx, full=True, only=PROJECTION_BUILD)  # what silver.runs is compared with
    assert _silver(ctx) == [row]
