"""App-transaction retention (`delta.setTransactionRetentionDuration`), on real Delta tables.

The bronze tables, whose writers use one app id per batch (ingest) or per session (collector),
carry the catalog's retention, created or pre-existing; tables holding derived jobs' bookmarks
do not. delta-rs (1.6) hides an expired app transaction from `transaction_version` at once
and leaves it out of the next checkpoint; a batch retried after that is still stored once, by
event-id deduplication."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from eventlines import event, write_lines

from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import job as ingest_job
from tracelake.jobs.lake import catalog, commits
from tracelake.jobs.lake.store import Lake
from tracelake.jobs.registry import discover
from tracelake.jobs.settings import Settings

RETENTION = "delta.setTransactionRetentionDuration"
EVENTS = catalog.BRONZE_EVENTS
DAY_S = 86_400


def _ctx(tmp_path: Path) -> JobContext:
    return JobContext.create(Settings(lake_root=str(tmp_path / "lake")))


def _config(lake: Lake, spec: catalog.TableSpec) -> dict[str, str]:
    table = lake.table(spec)
    assert table is not None
    return dict(table.metadata().configuration or {})


def _days_ago(monkeypatch: pytest.MonkeyPatch, days: float) -> None:
    """Commits stamp their app transactions `days` ago (only the commit plumbing's clock)."""
    then = time.time() - days * DAY_S
    monkeypatch.setattr(commits, "time", SimpleNamespace(time=lambda: then))


def _checkpoint_txns(lake: Lake, spec: catalog.TableSpec) -> set[str]:
    log = Path(lake.uri(spec)) / "_delta_log"
    (checkpoint,) = sorted(log.glob("*.checkpoint.parquet"))[-1:]
    rows = pq.read_table(checkpoint, columns=["txn"]).column("txn").to_pylist()
    return {r["appId"] for r in rows if r}


def test_bronze_tables_are_created_with_the_retention_and_bookmark_tables_without(tmp_path):
    lake = _ctx(tmp_path).lake
    for spec in (catalog.BRONZE_EVENTS, catalog.BRONZE_QUARANTINE):
        lake.ensure(spec)
        assert _config(lake, spec)[RETENTION] == catalog.BRONZE_APP_TXN_RETENTION
    # silver.events copies bronze.events' properties but holds the scrub job's bookmark.
    for spec in (catalog.SILVER_EVENTS, catalog.SILVER_RUNS):
        lake.ensure(spec)
        assert RETENTION not in _config(lake, spec)


def test_no_bookmark_table_expires_app_transactions():
    """A derived job's bookmark lives on its output table as long as the job does: an expired
    one would make the next run read its sources from the start and append them again."""
    outputs = {table for job in discover() for table in job.writes}
    assert outputs
    expiring = {s.qualified_name for s in catalog.all_tables() if s.app_txn_retention}
    assert expiring == {"bronze.events", "bronze.quarantine"}
    assert not expiring & outputs


def test_ensure_gives_an_existing_table_the_retention_and_nothing_else(tmp_path):
    lake = _ctx(tmp_path).lake
    old = {k: v for k, v in EVENTS.configuration.items() if k != RETENTION}
    # As an erasure leaves it between its unlock and relock commits: not ensure's to undo.
    old["delta.appendOnly"] = "false"
    DeltaTable.create(
        lake.uri(EVENTS),
        schema=EVENTS.schema,
        partition_by=list(EVENTS.partition_by),
        configuration=old,
    )
    assert RETENTION not in _config(lake, EVENTS)
    version = lake.version(EVENTS)

    lake.ensure(EVENTS)

    config = _config(lake, EVENTS)
    assert config[RETENTION] == catalog.BRONZE_APP_TXN_RETENTION
    assert config["delta.appendOnly"] == "false"
    assert lake.version(EVENTS) == version + 1
    lake.ensure(EVENTS)  # in line now: no further commit
    assert lake.version(EVENTS) == version + 1


def test_expired_ingest_txn_leaves_the_checkpoint_and_a_late_retry_stores_nothing(
    tmp_path, monkeypatch
):
    ctx = _ctx(tmp_path)
    old_file = write_lines(tmp_path / "in" / "old.jsonl", [event(i, run="old") for i in range(4)])
    new_file = write_lines(tmp_path / "in" / "new.jsonl", [event(i, run="new") for i in range(3)])
    with monkeypatch.context() as m:
        _days_ago(m, 8)  # older than the 7-day retention
        assert ingest_job.run(ctx, [str(old_file)]).rows_out == 4
    assert ingest_job.run(ctx, [str(new_file)]).rows_out == 3

    table = ctx.lake.table(EVENTS)
    assert table is not None
    txns = [
        a["txn"]["appId"]
        for v in range(table.version() + 1)
        for a in _log_actions(ctx.lake, v)
        if "txn" in a
    ]
    batch_ids = [t for t in txns if t.startswith("ingest-")]
    assert len(batch_ids) == 2
    old_id, new_id = batch_ids
    # delta-rs filters expired transactions when it reads the log, before any checkpoint.
    assert table.transaction_version(old_id) is None
    assert table.transaction_version(new_id) == 1

    table.create_checkpoint()
    in_checkpoint = _checkpoint_txns(ctx.lake, EVENTS)
    assert new_id in in_checkpoint and old_id not in in_checkpoint
    # The writers' fence is re-stamped by every commit, so it stays while writers are active.
    assert "tracelake-bronze-writer" in in_checkpoint

    # The old batch again, past its window: no longer skipped whole, but every event is a
    # duplicate by id and content, so nothing is stored twice.
    rows = ctx.lake.count(EVENTS)
    again = ingest_job.run(ctx, [str(old_file)])
    assert again.rows_out == 0
    assert ctx.lake.count(EVENTS) == rows
    # Within its window the new batch is skipped by its app transaction.
    assert ingest_job.run(ctx, [str(new_file)]).rows_out == 0
    assert ctx.lake.count(EVENTS) == rows


def test_an_old_bookmark_never_expires(tmp_path, monkeypatch):
    lake = _ctx(tmp_path).lake
    spec = catalog.SILVER_RUNS
    with monkeypatch.context() as m:
        _days_ago(m, 400)
        lake.append(spec, spec.schema.empty_table(), app_txn=("project_runs", 9))
    table = lake.table(spec)
    assert table is not None
    table.create_checkpoint()
    assert DeltaTable(lake.uri(spec)).transaction_version("project_runs") == 9


def _log_actions(lake: Lake, version: int) -> list[dict]:
    path = Path(lake.uri(EVENTS)) / "_delta_log" / f"{version:020d}.json"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
