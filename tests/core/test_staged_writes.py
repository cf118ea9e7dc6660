"""Bronze ingest writes data files as it parses and commits them later: what must hold."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from eventlines import event, write_lines

from tracelake.jobs.context import JobContext
from tracelake.jobs.errors import TracelakeError, WriterFenceError
from tracelake.jobs.ingest import dialects, job, normalize
from tracelake.jobs.ingest.model import SourceDoc
from tracelake.jobs.ingest.normalize import parse_doc
from tracelake.jobs.ingest.writer import BronzeWriter
from tracelake.jobs.lake import catalog
from tracelake.jobs.lake.files import StagedFiles, split_by_partition
from tracelake.jobs.lake.store import Lake
from tracelake.jobs.settings import Settings

FIXTURES = Path(__file__).parent.parent / "fixtures"


def failing_on(call: int, real, message: str):
    """`real`, except that its `call`-th call raises OSError(message)."""
    calls = []

    def maybe_fail(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise OSError(message)
        return real(*args, **kwargs)

    return maybe_fail


def files_on_disk(ctx) -> set[str]:
    root = Path(ctx.lake.uri(catalog.BRONZE_EVENTS))
    return {str(p.relative_to(root)) for p in root.rglob("*.parquet")}


def files_in_log(ctx) -> set[str]:
    root = ctx.lake.uri(catalog.BRONZE_EVENTS)
    return {
        f.uri.removeprefix("file://").removeprefix(root + "/")
        for f in ctx.lake.files(catalog.BRONZE_EVENTS)
    }


def test_no_data_file_is_left_behind_when_staged_rows_turn_out_duplicates(ctx, tmp_path):
    first = write_lines(tmp_path / "a.jsonl", [event(i) for i in range(30)])
    job.run(ctx, [str(first)])
    # Re-ingest the same events with a few new ones and repeats inside the batch: the staged
    # files are decided at commit, rewritten with only the new rows, and the rest removed.
    again = write_lines(
        tmp_path / "b.jsonl", [event(i) for i in range(25, 40)] + [event(39), event(38)]
    )
    result = job.run(ctx, [str(again)])
    assert (result.rows_out, result.rows_duplicate) == (10, 7)
    assert files_on_disk(ctx) == files_in_log(ctx)
    ids = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["event_id"])["event_id"].to_pylist()
    assert sorted(ids) == sorted(f"run-1-e{i}" for i in range(40))

    nothing_new = job.run(ctx, [str(first), str(again)])
    assert nothing_new.rows_out == 0
    assert files_on_disk(ctx) == files_in_log(ctx)


def test_a_commit_with_an_unknown_outcome_keeps_its_files_out_of_sight(ctx, tmp_path, monkeypatch):
    # The log write failed and nothing shows it landed; it still might (a timed-out PUT), so
    # the files stay, unreferenced and invisible. The next run stores the events itself.
    job.run(ctx, [str(write_lines(tmp_path / "a.jsonl", [event(0)]))])

    def refuse(*args, **kwargs):
        raise OSError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setattr(Lake, "commit_files", refuse)
        with pytest.raises(OSError, match="disk on fire"):
            job.run(ctx, [str(write_lines(tmp_path / "b.jsonl", [event(1), event(2)]))])
    assert files_in_log(ctx) < files_on_disk(ctx)
    assert ctx.lake.read(catalog.BRONZE_EVENTS).num_rows == 1
    retry = job.run(ctx, [str(tmp_path / "b.jsonl")])
    assert retry.rows_out == 2
    assert files_in_log(ctx) <= files_on_disk(ctx)
    assert ctx.lake.read(catalog.BRONZE_EVENTS).num_rows == 3


def test_staged_files_carry_statistics_that_bound_their_rows(ctx, tmp_path):
    lines = [event(i, run=f"r{i % 7}") for i in range(200)]
    job.run(ctx, [str(write_lines(tmp_path / "a.jsonl", lines))])
    table = ctx.lake.table(catalog.BRONZE_EVENTS)
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    stats_columns = catalog.BRONZE_EVENTS.properties["delta.dataSkippingStatsColumns"].split(",")
    assert actions
    for action in actions:
        path = ctx.lake.uri(catalog.BRONZE_EVENTS) + "/" + action["path"]
        rows = pa.parquet.read_table(path)
        assert action["num_records"] == rows.num_rows
        for column in stats_columns:
            lo, hi = action[f"min.{column}"], action[f"max.{column}"]
            values = rows[column]
            assert lo is not None and hi is not None, column
            if isinstance(lo, dt.datetime):  # Delta keeps milliseconds: widened outwards
                lo, hi = lo - dt.timedelta(milliseconds=1), hi + dt.timedelta(milliseconds=1)
                values = values.cast(pa.timestamp("us", "UTC"))
            assert pc.all(pc.greater_equal(values, pa.scalar(lo, values.type))).as_py(), column
            assert pc.all(pc.less_equal(values, pa.scalar(hi, values.type))).as_py(), column
            assert action[f"null_count.{column}"] == values.null_count


def test_parallel_parse_of_mixed_dialects_matches_sequential(tmp_path, monkeypatch):
    inputs = tmp_path / "in"
    write_lines(inputs / "events.jsonl", [event(i, run=f"run-{i // 40}") for i in range(3000)])
    shutil.copy(FIXTURES / "chat" / "tools.jsonl", inputs / "chat.jsonl")
    results = {}
    for workers in (1, 2):
        settings = Settings(
            lake_root=str(tmp_path / f"lake-{workers}"), ingest={"workers": workers}
        )
        ctx = JobContext.create(settings)
        monkeypatch.setattr(job, "CHUNK_BYTES", 32 * 1024)
        monkeypatch.setattr(job, "PARALLEL_MIN_BYTES", 1)
        result = job.run(ctx, [str(inputs)])
        rows = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["event_id", "content_hash", "dialect"])
        results[workers] = (result.rows_out, sorted(zip(*rows.to_pydict().values(), strict=True)))
    assert results[1] == results[2]
    assert {d for _, _, d in results[2][1]} == {"canonical", "chat.jsonl"}
    # Arrow-bound canonical JSONL parses in threads; pure-Python dialects in processes.
    assert job._in_threads(job.ParseUnit("x", "canonical", "b"))
    assert not job._in_threads(job.ParseUnit("x", "chat.jsonl", "b"))


def test_split_by_partition_groups_rows_by_value_including_null():
    table = pa.table(
        {
            "day": pa.array(["b", None, "a", "b", None, "a", "c"]),
            "n": pa.array(range(7)),
        }
    )
    parts = {key: part["n"].to_pylist() for key, part in split_by_partition(table, ["day"])}
    assert parts == {("a",): [2, 5], ("b",): [0, 3], (None,): [1, 4], ("c",): [6]}
    single = list(split_by_partition(table.slice(0, 1), ["day"]))
    assert [k for k, _ in single] == [("b",)]
    # Rows already grouped by value come back as slices of the table (no copy), in order.
    grouped = table.take(pa.array([2, 5, 0, 3, 1, 4, 6]))
    runs = list(split_by_partition(grouped, ["day"]))
    assert [(k, p["n"].to_pylist()) for k, p in runs] == [
        (("a",), [2, 5]),
        (("b",), [0, 3]),
        ((None,), [1, 4]),
        (("c",), [6]),
    ]
    data = grouped["n"].chunk(0).buffers()[1].address
    assert all(p["n"].chunk(0).buffers()[1].address == data for _, p in runs)


def test_one_events_commit_per_batch_rows(ctx, tmp_path, monkeypatch):
    monkeypatch.setattr(job, "CHUNK_BYTES", 4 * 1024)  # many small parse units
    ctx.settings.ingest.batch_rows = 100
    path = write_lines(tmp_path / "a.jsonl", [event(i) for i in range(250)])
    before = ctx.lake.ensure(catalog.BRONZE_EVENTS).version()
    result = job.run(ctx, [str(path)])
    assert result.rows_out == 250
    versions = result.versions_written
    assert versions[catalog.BRONZE_EVENTS.qualified_name] - before in (2, 3)
    commits = [
        h for h in ctx.lake.history(catalog.BRONZE_EVENTS, limit=10) if h["version"] > before
    ]
    assert {h["batch_id"] for h in commits} == {result.details["batch_id"]}


def test_a_column_with_unbounded_row_groups_gets_no_bounds(ctx):
    # Parquet drops min/max of long strings; the other row groups' bounds must not stand for
    # the file, or a filter on the short value would skip the file.
    def events(*lines):
        data = b"\n".join(orjson.dumps(x) for x in lines)
        return parse_doc(dialects.get("canonical"), SourceDoc("mem://x", data), "b").events

    staged = ctx.lake.stage(catalog.BRONZE_EVENTS)
    day = "2026-03-01T00:00:00Z"  # one partition, so one file with two row groups
    staged.write(
        events(event(0, component_name="a", ts=day), event(1, component_name="z" * 5000, ts=day))
    )
    staged.write(events(event(2, component_name="m", ts=day)))
    ctx.lake.commit_files(catalog.BRONZE_EVENTS, staged.close())
    (action,) = pa.table(
        ctx.lake.table(catalog.BRONZE_EVENTS).get_add_actions(flatten=True)
    ).to_pylist()
    assert action["min.component_name"] is None and action["max.component_name"] is None
    assert action["min.run_id"] == "run-1"  # other columns keep their bounds


def test_a_failed_stage_commits_nothing_of_its_batch_and_a_retry_stores_all(
    ctx, tmp_path, monkeypatch
):
    ctx.settings.ingest.batch_rows = 20
    paths = [
        str(write_lines(tmp_path / f"{name}.jsonl", [event(i, run=name) for i in range(10)]))
        for name in "abc"
    ]
    with monkeypatch.context() as patch:
        patch.setattr(StagedFiles, "write", failing_on(1, StagedFiles.write, "transient S3 error"))
        with pytest.raises((OSError, TracelakeError), match="transient S3 error"):
            job.run(ctx, paths)
    stored = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["run_id"])["run_id"].to_pylist()
    assert "a" not in stored  # the failed unit's batch was not committed without it
    retry = job.run(ctx, paths)
    assert retry.rows_out + retry.rows_duplicate == 30
    runs = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["run_id"])["run_id"].to_pylist()
    assert sorted(runs) == sorted(["a"] * 10 + ["b"] * 10 + ["c"] * 10)
    assert files_on_disk(ctx) == files_in_log(ctx)


@pytest.mark.parametrize("error", [OSError("connection reset"), WriterFenceError("race")])
def test_a_commit_that_landed_but_reported_an_error_keeps_its_files(
    ctx, tmp_path, monkeypatch, error
):
    # The log entry was written but the caller saw an error (a lost response, delta-rs
    # retrying its own commit): the files are referenced and must not be deleted.
    real_commit = Lake.commit_files
    failures = []

    def commit_then_fail(self, *args, **kwargs):
        version = real_commit(self, *args, **kwargs)
        if not failures:
            failures.append(version)
            raise error
        return version

    monkeypatch.setattr(Lake, "commit_files", commit_then_fail)
    result = job.run(ctx, [str(write_lines(tmp_path / "a.jsonl", [event(i) for i in range(5)]))])
    assert failures and result.rows_out == 5
    assert files_on_disk(ctx) == files_in_log(ctx)
    assert ctx.lake.read(catalog.BRONZE_EVENTS).num_rows == 5
    again = job.run(ctx, [str(tmp_path / "a.jsonl")])
    assert (again.rows_out, again.rows_duplicate) == (0, 5)


def test_the_first_of_two_events_with_one_id_wins_wherever_it_is_stored(ctx, tmp_path):
    # Staged files are per partition; the second line lands in an earlier partition, so the
    # rows read back are not in input order. The first line must still win.
    path = write_lines(
        tmp_path / "a.jsonl",
        [
            event(1, ts="2026-03-01T00:00:00Z"),
            event(2, ts="2026-03-02T00:00:00Z", action="first"),
            event(2, ts="2026-03-01T00:00:00Z", action="second"),
            event(1, ts="2026-03-01T00:00:00Z"),
        ],
    )
    result = job.run(ctx, [str(path)])
    assert (result.rows_out, result.rows_duplicate, result.rows_quarantined) == (2, 1, 1)
    rows = ctx.lake.read(catalog.BRONZE_EVENTS, columns=["event_id", "action"]).to_pylist()
    assert {r["event_id"]: r["action"] for r in rows}["run-1-e2"] == "first"
    (q,) = ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    assert (q["source_position"], q["reason_code"]) == ("line:3", "id_conflict")


def test_events_stored_under_the_old_content_hash_are_duplicates_not_conflicts(
    ctx, tmp_path, monkeypatch
):
    # A lake written by tracelake 0.1 holds blake2b content hashes.
    old = write_lines(tmp_path / "old.jsonl", [event(i) for i in range(6)])
    with monkeypatch.context() as patch:
        patch.setattr(normalize, "content_hashes", normalize.legacy_content_hashes)
        job.run(ctx, [str(old)])
    changed = write_lines(
        tmp_path / "new.jsonl", [event(i) for i in range(5)] + [event(5, action="edited")]
    )
    result = job.run(ctx, [str(changed)])
    assert (result.rows_out, result.rows_duplicate, result.rows_quarantined) == (0, 5, 1)
    (q,) = ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    assert (q["reason_code"], q["source_position"]) == ("id_conflict", "line:6")


def test_a_run_that_fails_while_parsing_leaves_no_staged_file(ctx, tmp_path, monkeypatch):
    monkeypatch.setattr(job, "CHUNK_BYTES", 4 * 1024)  # many units: some are staged first
    path = write_lines(tmp_path / "a.jsonl", [event(i) for i in range(300)])
    real_parse = job._parse_unit
    seen = []

    def fail_later(unit):
        seen.append(unit)
        if len(seen) == 6:
            raise OSError("disk went away")
        return real_parse(unit)

    monkeypatch.setattr(job, "_parse_unit", fail_later)
    with pytest.raises(OSError, match="disk went away"):
        job.run(ctx, [str(path)])
    assert files_on_disk(ctx) == files_in_log(ctx) == set()


def test_conflicts_quarantined_under_the_old_content_hash_are_not_quarantined_again(
    ctx, tmp_path, monkeypatch
):
    old = write_lines(tmp_path / "old.jsonl", [event(i) for i in range(6)])
    new = write_lines(
        tmp_path / "new.jsonl", [event(i) for i in range(5)] + [event(5, action="edited")]
    )
    with monkeypatch.context() as patch:  # a lake written by tracelake 0.1
        patch.setattr(normalize, "content_hashes", normalize.legacy_content_hashes)
        job.run(ctx, [str(old)])
        assert job.run(ctx, [str(new)]).rows_quarantined == 1
    again = job.run(ctx, [str(new)])
    assert (again.rows_out, again.rows_duplicate, again.rows_quarantined) == (0, 6, 0)
    assert ctx.lake.read(catalog.BRONZE_QUARANTINE).num_rows == 1


def test_a_commit_that_lands_on_the_last_fence_retry_is_not_reported_as_failed(
    ctx, tmp_path, monkeypatch
):
    real_commit = Lake.commit_files
    calls = []

    def fence_then_land(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == BronzeWriter.MAX_FENCE_RETRIES:
            real_commit(self, *args, **kwargs)  # lands, but delta-rs saw its own transaction
        raise WriterFenceError("race")

    monkeypatch.setattr(Lake, "commit_files", fence_then_land)
    path = write_lines(tmp_path / "a.jsonl", [event(i) for i in range(5)] + [b"not json"])
    result = job.run(ctx, [str(path)])
    assert (result.rows_out, result.rows_quarantined) == (5, 1)
    assert files_on_disk(ctx) == files_in_log(ctx)


def test_writer_commit_removes_what_it_staged_when_a_batch_fails(ctx, monkeypatch):
    # The OTLP collector calls commit() per micro-batch and drops the writer on error.
    def batch(*lines):
        data = b"\n".join(orjson.dumps(x) for x in lines)
        return parse_doc(dialects.get("canonical"), SourceDoc("mem://x", data), "b")

    monkeypatch.setattr(StagedFiles, "write", failing_on(2, StagedFiles.write, "no space"))
    writer = BronzeWriter(ctx, "s")
    with pytest.raises(OSError, match="no space"):
        writer.commit([batch(event(0)), batch(event(1))], app_id="collector-s", app_version=1)
    assert files_on_disk(ctx) == files_in_log(ctx) == set()


def test_plain_columns_are_written_without_a_dictionary(ctx, tmp_path):
    job.run(ctx, [str(write_lines(tmp_path / "a.jsonl", [event(i) for i in range(50)]))])
    (f, *_) = ctx.lake.files(catalog.BRONZE_EVENTS)
    meta = pa.parquet.ParquetFile(f.uri.removeprefix("file://")).metadata.row_group(0)
    encodings = {
        meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)
    }
    assert "event_id" in catalog.BRONZE_EVENTS.plain_columns
    assert not any("DICTIONARY" in e for e in encodings["event_id"])
    assert any("DICTIONARY" in e for e in encodings["event_type"])


def test_ids_are_distinct_by_their_hashes_and_by_themselves_when_hashes_collide(monkeypatch):
    from tracelake.jobs.ingest import writer

    assert writer._all_distinct(pa.array(["a", "b", "c"]))
    assert not writer._all_distinct(pa.array(["a", "b", "a"]))
    # Every id hashing alike: the ids themselves decide.
    monkeypatch.setattr(writer.event_keys, "id_hashes", lambda ids: np.zeros(len(ids), np.int64))
    assert writer._all_distinct(pa.array(["a", "b", "c"]))
    assert not writer._all_distinct(pa.array(["a", "b", "a"]))
