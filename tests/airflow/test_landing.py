"""The landing-zone ledger: nothing ingested twice, nothing skipped, on disk and on S3."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from tracelake.jobs.ingest import job as ingest_job
from tracelake.jobs.lake import catalog
from tracelake.jobs.landing import LANDING_FILES, LandingZone

pytestmark = pytest.mark.airflow

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _ingest_and_mark(ctx, zone: LandingZone, files, run_key: str):
    result = ingest_job.run(ctx, paths=[f.uri for f in files])
    zone.mark_consumed(files, run_key)
    return result


def test_pending_skips_hidden_and_reserved_and_forgets_nothing(ctx, tmp_path, trace_writer):
    landing = tmp_path / "landing"
    trace_writer(landing / "a.jsonl", "run-a", T0, 1)
    trace_writer(landing / "nested" / "b.jsonl", "run-b", T0, 1)
    trace_writer(landing / ".c.jsonl.tmp", "run-c", T0, 1)  # still being written
    trace_writer(landing / "_done" / "old.jsonl", "run-old", T0, 1)
    zone = LandingZone(ctx)

    pickup = zone.pending()
    assert [f.uri for f in pickup.pending] == sorted(
        [str(landing / "a.jsonl"), str(landing / "nested" / "b.jsonl")]
    )
    _ingest_and_mark(ctx, zone, pickup.pending, "run-1")
    again = zone.pending()
    assert again.pending == [] and again.already_consumed == 2


def test_file_landing_during_a_run_is_picked_up_next_time(ctx, tmp_path, trace_writer):
    landing = tmp_path / "landing"
    trace_writer(landing / "a.jsonl", "run-a", T0, 1)
    zone = LandingZone(ctx)
    snapshot = zone.pending().pending
    late_events = trace_writer(landing / "late.jsonl", "run-late", T0, 2)  # lands mid-run
    _ingest_and_mark(ctx, zone, snapshot, "run-1")

    nxt = zone.pending().pending
    assert [f.uri for f in nxt] == [str(landing / "late.jsonl")]
    _ingest_and_mark(ctx, zone, nxt, "run-2")
    runs = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["run_id"])["run_id"].to_pylist()
    assert runs.count("run-late") == late_events
    assert zone.pending().pending == []


def test_a_file_that_grows_is_pending_again_and_adds_only_new_events(ctx, tmp_path, trace_writer):
    path = tmp_path / "landing" / "growing.jsonl"
    first = trace_writer(path, "run-a", T0, 1)
    zone = LandingZone(ctx)
    _ingest_and_mark(ctx, zone, zone.pending().pending, "run-1")
    added = trace_writer(tmp_path / "more.jsonl", "run-b", T0, 1)
    with path.open("ab") as out:  # the producer appends to the same file
        out.write((tmp_path / "more.jsonl").read_bytes())

    grown = zone.pending().pending
    assert [f.uri for f in grown] == [str(path)]
    result = _ingest_and_mark(ctx, zone, grown, "run-2")
    assert result.rows_out == added
    assert ctx.lake.read(catalog.BRONZE_EVENTS, columns=["event_id"]).num_rows == first + added


def test_crash_before_marking_reingests_without_duplicates(ctx, tmp_path, trace_writer):
    n = trace_writer(tmp_path / "landing" / "a.jsonl", "run-a", T0, 3)
    zone = LandingZone(ctx)
    files = zone.pending().pending
    ingest_job.run(ctx, paths=[f.uri for f in files])  # ... and the worker dies here
    retry = zone.pending().pending
    assert retry == files
    _ingest_and_mark(ctx, zone, retry, "run-2")
    assert ctx.lake.read(catalog.BRONZE_EVENTS, columns=["event_id"]).num_rows == n
    assert zone.pending().pending == []


def test_young_files_wait_and_large_backlogs_are_split(ctx, tmp_path, trace_writer):
    for i in range(3):
        trace_writer(tmp_path / "landing" / f"f{i}.jsonl", f"run-{i}", T0, 1)
    zone = LandingZone(ctx)
    now = time.time_ns()
    assert zone.pending(settle_s=3600, now_ns=now).settling == 3
    pickup = zone.pending(settle_s=0, max_files=2, now_ns=now)
    assert len(pickup.pending) == 2 and pickup.deferred == 1


def test_ledger_rows_name_the_run(ctx, tmp_path, trace_writer):
    trace_writer(tmp_path / "landing" / "a.jsonl", "run-a", T0, 1)
    zone = LandingZone(ctx)
    _ingest_and_mark(ctx, zone, zone.pending().pending, "tracelake_ingest/manual__1")
    ledger = ctx.lake.read(LANDING_FILES)
    assert ledger["run_key"].to_pylist() == ["tracelake_ingest/manual__1"]
    assert ledger["landing"].to_pylist() == [zone.root]


@pytest.mark.s3
def test_s3_landing_prefix(s3_settings, tmp_path, trace_writer):
    from tracelake.jobs.context import JobContext
    from tracelake.jobs.ingest.sources import s3_filesystem

    ctx = JobContext.create(s3_settings)
    fs = s3_filesystem(s3_settings.storage_options_for(s3_settings.landing))
    prefix = s3_settings.landing.removeprefix("s3://")
    local = tmp_path / "x.jsonl"
    n = trace_writer(local, "run-s3", T0, 2)
    for key in ("day=1/x.jsonl", "_done/old.jsonl", ".hidden.jsonl"):
        with fs.open_output_stream(f"{prefix}/{key}") as out:
            out.write(local.read_bytes())

    zone = LandingZone(ctx)
    pending = zone.pending().pending
    assert [f.uri for f in pending] == [f"{s3_settings.landing}/day=1/x.jsonl"]
    assert pending[0].size == local.stat().st_size and pending[0].mtime_ns > 0
    result = _ingest_and_mark(ctx, zone, pending, "run-1")
    assert result.rows_out == n
    assert zone.pending().pending == []
