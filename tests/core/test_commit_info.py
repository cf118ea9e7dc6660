"""Our commit metadata never reuses a field name of Delta's commitInfo action: delta-spark
parses commitInfo with a fixed schema and could not read a log whose `job` was a string."""

from __future__ import annotations

import json
from pathlib import Path

from eventlines import event, write_lines

from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import job as ingest_job
from tracelake.jobs.lake import catalog
from tracelake.jobs.lake.commit_info import DELTA_COMMIT_INFO_FIELDS, custom_metadata
from tracelake.jobs.settings import Settings


def test_reserved_keys_are_prefixed_and_values_are_strings():
    assert custom_metadata({"job": "ingest", "batch_id": "b", "versions_read": {"a": [0, 1]}}) == {
        "tracelake.job": "ingest",
        "batch_id": "b",
        "versions_read": '{"a": [0, 1]}',
    }


def test_an_ingest_commit_uses_only_delta_typed_fields(tmp_path):
    ctx = JobContext.create(Settings(lake_root=str(tmp_path / "lake")))
    ingest_job.run(ctx, [str(write_lines(tmp_path / "a.jsonl", [event(0), event(1)]))])
    log = Path(ctx.lake.uri(catalog.BRONZE_EVENTS)) / "_delta_log"
    for commit in sorted(log.glob("*.json")):
        for line in commit.read_text().splitlines():
            info = json.loads(line).get("commitInfo")
            if info is None:
                continue
            ours = set(info) - {"timestamp", "operation", "operationParameters", "engineInfo"}
            ours -= {"clientVersion", "readVersion", "isBlindAppend", "operationMetrics"}
            assert not ours & DELTA_COMMIT_INFO_FIELDS, (commit.name, ours)
            assert info.get("tracelake.job") in (None, "ingest")
