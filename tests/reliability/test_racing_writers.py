"""Races decided deterministically: a quarantine commit that loses to another writer, and a
table that another writer is creating at the moment we open it."""

from __future__ import annotations

import threading
import time

import orjson
from eventlines import event

from tracelake.jobs.ingest import dialects
from tracelake.jobs.ingest import writer as writer_module
from tracelake.jobs.ingest.model import SourceDoc
from tracelake.jobs.ingest.normalize import parse_doc
from tracelake.jobs.ingest.writer import BronzeWriter
from tracelake.jobs.lake import catalog


def parsed(lines: list[bytes]) -> list:
    doc = SourceDoc("mem://x.jsonl", b"\n".join(lines))
    return [parse_doc(dialects.get("canonical"), doc, "b")]


BAD = [orjson.dumps(event(0)), b"{broken 1", b"{broken 2"]


def test_quarantine_commit_that_loses_a_race_stores_nothing_twice(ctx, monkeypatch):
    first, second = BronzeWriter(ctx, "first"), BronzeWriter(ctx, "second")
    real = writer_module._dedupe_quarantine
    raced: list[bool] = []

    def decided_then_overtaken(*args, **kwargs):
        fresh = real(*args, **kwargs)
        if not raced:  # the other writer commits the same records after we decided
            raced.append(True)
            first.commit(parsed(BAD), app_id="first")
        return fresh

    monkeypatch.setattr(writer_module, "_dedupe_quarantine", decided_then_overtaken)
    outcome = second.commit(parsed(BAD), app_id="second")

    assert raced
    rows = ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    assert sorted(r["source_position"] for r in rows) == ["line:2", "line:3"]
    # Its event was stored before the race; its two bad records went in with the other writer.
    assert (outcome.stored, outcome.quarantined, outcome.duplicates) == (1, 0, 2)
    assert ctx.lake.count(catalog.BRONZE_EVENTS) == 1


def test_table_being_created_by_another_writer_is_waited_for(ctx):
    """A racing creator has made the table's directory (and something in it) but not yet its
    log: that is a table being born, not "exists but is not a Delta table". (The real race:
    one writer checks for `_delta_log`, another creates it, the first then finds the
    directory non-empty.)"""
    other = JobRunsCreator(ctx)
    other.start()
    table = ctx.lake.ensure(catalog.OPS_JOB_RUNS)
    other.join()
    assert table.version() >= 0


class JobRunsCreator(threading.Thread):
    def __init__(self, ctx) -> None:
        super().__init__()
        self.lake = ctx.lake
        path = ctx.lake.uri(catalog.OPS_JOB_RUNS)
        import pathlib

        self.dir = pathlib.Path(path)
        self.dir.mkdir(parents=True)
        (self.dir / "part-00000.parquet.tmp").write_bytes(b"being written")

    def run(self) -> None:
        from deltalake import DeltaTable

        time.sleep(0.3)  # then its first log entry lands
        DeltaTable.create(str(self.dir), schema=catalog.OPS_JOB_RUNS.schema, mode="ignore")
