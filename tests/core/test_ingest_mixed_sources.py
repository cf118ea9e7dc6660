"""Storage options are resolved per input: a local folder and an s3:// prefix in one ingest."""

from __future__ import annotations

import pytest
from eventlines import event, write_lines

from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import job as ingest_job
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import Settings

pytestmark = pytest.mark.s3


def test_a_local_path_first_does_not_hide_the_s3_credentials(s3_server, s3_settings, tmp_path):
    bucket = s3_settings.lake_root.removeprefix("s3://").split("/", 1)[0]
    remote = write_lines(tmp_path / "remote.jsonl", [event(1, run="run-s3")])
    s3_server.filesystem().create_dir(f"{bucket}/landing")
    with s3_server.filesystem().open_output_stream(f"{bucket}/landing/remote.jsonl") as out:
        out.write(remote.read_bytes())
    local = write_lines(tmp_path / "local" / "a.jsonl", [event(0, run="run-local")])
    # The lake is local; only the second input is on S3.
    settings = Settings(lake_root=str(tmp_path / "lake"), s3=s3_settings.s3)
    ctx = JobContext.create(settings)
    result = ingest_job.run(ctx, [str(local.parent), f"s3://{bucket}/landing/"])
    assert result.status == "succeeded", result.message
    runs = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["run_id"])["run_id"].to_pylist()
    assert sorted(runs) == ["run-local", "run-s3"]
