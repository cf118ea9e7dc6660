"""Concurrent bronze writers: whoever decided against a stale table state must not commit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from eventlines import event, write_lines

from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import dialects
from tracelake.jobs.ingest.model import SourceDoc
from tracelake.jobs.ingest.normalize import parse_doc
from tracelake.jobs.ingest.writer import BronzeWriter
from tracelake.jobs.lake import catalog

TRACELAKE = str(Path(sys.executable).with_name("tracelake"))


def parsed(lines: list[dict]) -> list:
    data = b"\n".join(__import__("orjson").dumps(x) for x in lines)
    return [parse_doc(dialects.get("canonical"), SourceDoc("mem://x.jsonl", data), "b")]


def test_writer_that_decided_on_a_stale_table_retries_and_stores_no_duplicate(ctx, monkeypatch):
    first = BronzeWriter(ctx, "first")
    second = BronzeWriter(ctx, "second")
    stale_version = ctx.lake.version(catalog.BRONZE_EVENTS)

    first.commit(parsed([event(0), event(1)]), app_id="a")

    real_catch_up = second._catch_up
    stale_calls = []

    def stale_then_real():
        if not stale_calls:  # decide once as if the first writer had not committed yet
            stale_calls.append(True)
            return ctx.lake.table(catalog.BRONZE_EVENTS, version=stale_version)
        return real_catch_up()

    monkeypatch.setattr(second, "_catch_up", stale_then_real)
    outcome = second.commit(parsed([event(1), event(2)]), app_id="b")

    assert stale_calls, "the stale decision was never taken"
    ids = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["event_id"])["event_id"].to_pylist()
    assert sorted(ids) == ["run-1-e0", "run-1-e1", "run-1-e2"]
    assert (outcome.stored, outcome.duplicates) == (1, 1)


@pytest.mark.s3
def test_concurrent_ingests_of_overlapping_inputs_store_each_event_once(
    s3_server, s3_settings, tmp_path
):
    shared = [event(i, run=f"shared-{i // 20}") for i in range(400)]
    a = write_lines(tmp_path / "in" / "a.jsonl", shared)
    write_lines(tmp_path / "in" / "b.jsonl", [event(i, run=f"b-{i // 20}") for i in range(400)])
    env = {**os.environ, **s3_server.env(), "TRACELAKE_LAKE_ROOT": s3_settings.lake_root}
    JobContext.create(s3_settings).lake.ensure(catalog.BRONZE_EVENTS)
    inputs = [[str(a)], [str(tmp_path / "in")], [str(a)], [str(tmp_path / "in")]]
    procs = [
        subprocess.Popen(
            [TRACELAKE, "ingest", *paths], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for paths in inputs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()
    ids = (
        JobContext.create(s3_settings)
        .lake.read(catalog.BRONZE_EVENTS, columns=["event_id"])["event_id"]
        .to_pylist()
    )
    assert len(ids) == len(set(ids)) == 800
