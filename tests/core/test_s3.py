"""Ingest against a real S3 server (SeaweedFS), including concurrent writers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from eventlines import event, write_lines

from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import job
from tracelake.jobs.ingest.sources import s3_filesystem
from tracelake.jobs.lake import catalog

pytestmark = pytest.mark.s3
TRACELAKE = str(Path(sys.executable).with_name("tracelake"))


def test_ingest_into_an_s3_lake_is_idempotent(s3_settings, tmp_path):
    ctx = JobContext.create(s3_settings)
    path = write_lines(tmp_path / "a.jsonl", [event(i) for i in range(10)] + [b"{bad"])
    first = job.run(ctx, [str(path)])
    second = job.run(ctx, [str(path)])
    assert (first.rows_out, first.rows_quarantined) == (10, 1)
    assert (second.rows_out, second.rows_quarantined) == (0, 0)
    assert ctx.lake.read(catalog.BRONZE_EVENTS).num_rows == 10
    assert ctx.lake.root.startswith("s3://")
    runs = ctx.lake.read(catalog.OPS_JOB_RUNS, columns=["job", "rows_out"]).to_pylist()
    assert sorted(r["rows_out"] for r in runs) == [0, 10]


def test_ingest_reads_input_from_an_s3_prefix(s3_settings, tmp_path):
    ctx = JobContext.create(s3_settings)
    fs = s3_filesystem(s3_settings.lake_storage_options)
    bucket = s3_settings.lake_root.removeprefix("s3://").split("/")[0]
    for name, run in (("in/a.jsonl", "a"), ("in/sub/b.jsonl", "b")):
        with fs.open_output_stream(f"{bucket}/{name}") as f:
            f.write(
                write_lines(tmp_path / name.replace("/", "_"), [event(0, run=run)]).read_bytes()
            )
    result = job.run(ctx, [f"s3://{bucket}/in/"])
    assert result.details["files"] == 2
    stored = ctx.lake.read(catalog.BRONZE_EVENTS).to_pylist()
    assert sorted(r["run_id"] for r in stored) == ["a", "b"]
    assert {r["source_uri"] for r in stored} == {
        f"s3://{bucket}/in/a.jsonl",
        f"s3://{bucket}/in/sub/b.jsonl",
    }


def test_four_concurrent_ingest_processes_lose_nothing_and_duplicate_nothing(
    s3_server, s3_settings, tmp_path
):
    files = []
    for p in range(4):
        lines = [event(i, run=f"proc{p}-run{i // 25}") for i in range(250)]
        files.append(write_lines(tmp_path / f"p{p}.jsonl", lines))
    env = {**os.environ, **s3_server.env(), "TRACELAKE_LAKE_ROOT": s3_settings.lake_root}
    # Create the tables first so the four writers race on commits, not on table creation.
    JobContext.create(s3_settings).lake.ensure(catalog.BRONZE_EVENTS)
    procs = [
        subprocess.Popen(
            [TRACELAKE, "ingest", str(f)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for f in files
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr.decode()

    ids = (
        JobContext.create(s3_settings)
        .lake.read(catalog.BRONZE_EVENTS, columns=["event_id"])["event_id"]
        .to_pylist()
    )
    assert len(ids) == 1000
    assert len(set(ids)) == 1000
