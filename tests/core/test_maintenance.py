"""Lake maintenance with delta-rs: compaction keeps bronze append-only and invisible to version
range readers, VACUUM removes unreferenced staged files only once older than the retention,
checkpoints are written, and status reports file counts and the small-file ratio."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow.parquet as pq
from eventlines import event, write_lines

from tracelake.jobs import maintain
from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import job as ingest_job
from tracelake.jobs.lake import catalog
from tracelake.jobs.lake.delta_source import plan_scan
from tracelake.jobs.lake.maintenance import file_stats
from tracelake.jobs.settings import Settings

EVENTS = catalog.BRONZE_EVENTS


def _ctx(tmp_path: Path, **maintenance) -> JobContext:
    settings = Settings(
        lake_root=str(tmp_path / "lake"),
        maintenance={"min_small_files": 2, "retention_hours": 1, **maintenance},
    )
    return JobContext.create(settings)


def _ingest_batches(ctx: JobContext, tmp_path: Path, batches: int, per_batch: int = 5) -> None:
    for b in range(batches):
        rows = [event(i, run=f"run-{b}") for i in range(per_batch)]
        path = write_lines(tmp_path / "in" / f"batch{b}.jsonl", rows)
        assert ingest_job.run(ctx, [str(path)]).rows_out == per_batch


def _log_entries(ctx: JobContext, version: int) -> list[dict]:
    log = Path(ctx.lake.uri(EVENTS)) / "_delta_log" / f"{version:020d}.json"
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def test_compaction_keeps_rows_and_append_only_and_adds_no_new_data(tmp_path):
    ctx = _ctx(tmp_path)
    _ingest_batches(ctx, tmp_path, batches=4)
    before = file_stats(ctx.lake, EVENTS, ctx.settings.maintenance.small_file_bytes)
    version_before = ctx.lake.version(EVENTS)
    rows_before = sorted(r["event_id"] for r in ctx.lake.read(EVENTS).to_pylist())

    result = maintain.run(ctx, ["bronze.events"], vacuum=False)

    report = result.details["tables"]["bronze.events"]
    assert before is not None and before.files >= 4
    assert report["compacted"]["files_removed"] == before.files
    assert report["files_after"] < before.files
    assert sorted(r["event_id"] for r in ctx.lake.read(EVENTS).to_pylist()) == rows_before
    table = ctx.lake.table(EVENTS)
    assert table is not None
    assert table.metadata().configuration.get("delta.appendOnly") == "true"
    # The compaction commit adds and removes files without changing data...
    compaction = next(
        v
        for v in range(version_before + 1, table.version() + 1)
        if any("add" in e for e in _log_entries(ctx, v))
    )
    actions = _log_entries(ctx, compaction)
    assert all(e["add"]["dataChange"] is False for e in actions if "add" in e)
    assert all(e["remove"]["dataChange"] is False for e in actions if "remove" in e)
    # ...so a reader of the versions after the last ingest finds no new rows.
    uri = ctx.lake.uri(EVENTS)
    plan = plan_scan(uri, {}, version=table.version(), after_version=version_before)
    assert plan.files == []


def test_vacuum_removes_old_unreferenced_staged_files_only(tmp_path):
    ctx = _ctx(tmp_path)
    _ingest_batches(ctx, tmp_path, batches=2)
    root = Path(ctx.lake.uri(EVENTS))
    live = {str(p) for p in root.rglob("*.parquet")}
    sample = pq.read_table(next(iter(live)))
    # What a commit with an unknown outcome (or a killed writer) leaves: files no log names.
    old_orphan = root / "event_date=2026-03-01" / "part-staged-old.parquet"
    new_orphan = root / "event_date=2026-03-01" / "part-staged-new.parquet"
    for path in (old_orphan, new_orphan):
        pq.write_table(sample, path)
    two_hours_ago = time.time() - 2 * 3600
    os.utime(old_orphan, (two_hours_ago, two_hours_ago))

    result = maintain.run(ctx, ["bronze.events"])

    assert result.details["tables"]["bronze.events"]["vacuumed_files"] >= 1
    assert not old_orphan.exists()
    assert new_orphan.exists()  # younger than the retention: a writer may still commit it
    # Files just replaced by compaction stay for readers of older snapshots (retention 1 h).
    assert all(Path(p).exists() for p in live)
    assert ctx.lake.count(EVENTS) == 10


def test_checkpoint_is_written_and_status_shows_small_files(tmp_path):
    from tracelake.jobs.status import report as _status

    ctx = _ctx(tmp_path)
    _ingest_batches(ctx, tmp_path, batches=3)
    status = {t["table"]: t for t in _status(ctx)["tables"]}
    events = status["bronze.events"]
    assert events["files"] >= 3 and events["small_files"] == events["files"]
    assert events["small_ratio"] == 1.0
    assert status["silver.runs"]["files"] == 0

    maintain.run(ctx)

    log = Path(ctx.lake.uri(EVENTS)) / "_delta_log"
    assert (log / "_last_checkpoint").exists()
    after = {t["table"]: t for t in _status(ctx)["tables"]}["bronze.events"]
    assert after["files"] < events["files"]


def test_maintain_on_an_empty_lake_is_a_noop(tmp_path):
    result = maintain.run(_ctx(tmp_path))
    assert result.status == "noop"
    assert all(t["skipped"] for t in result.details["tables"].values())
