"""Compaction of bronze between builds: the next build reads no new rows (a compaction commit
is not new data to the runner's version-range reads) and the derived tables are unchanged."""

from __future__ import annotations

import json

import pytest

from tracelake.jobs import build, maintain
from tracelake.jobs.context import JobContext
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import Settings

from .conftest import BASE_TS, ingest_events, make_run

pytestmark = pytest.mark.spark


def _rows(ctx: JobContext) -> list[str]:
    rows = ctx.lake.read(catalog.SILVER_RUNS).to_pylist()
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def test_a_build_after_compaction_reads_nothing_new(tmp_path, rng, spark):
    ctx = JobContext.create(
        Settings(lake_root=str(tmp_path / "lake"), maintenance={"min_small_files": 2})
    )
    for i in range(3):  # three small ingests: three small files or more
        ingest_events(ctx, tmp_path / "in", make_run(f"run{i}", BASE_TS, rng), f"b{i}")
    assert build.run(ctx).status == "succeeded"
    before = _rows(ctx)

    compacted = maintain.run(ctx, ["bronze.events"], vacuum=False)
    assert compacted.details["tables"]["bronze.events"]["compacted"]["files_removed"] >= 3

    after = build.run(ctx)
    # the compaction commit added no data
    assert after.rows_in == 0, [m for m in after.message.split("; ") if "from 0 new" not in m]
    assert _rows(ctx) == before
