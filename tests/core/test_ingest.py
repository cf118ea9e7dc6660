"""Canonical JSONL ingest: validation, quarantine, idempotence, inputs, bookkeeping."""

from __future__ import annotations

import ctypes
import json
import sys
from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from eventlines import event, write_lines

from tracelake.jobs.errors import InputNotFoundError, NotALakeError, UnknownFormatError
from tracelake.jobs.ingest import job
from tracelake.jobs.lake import catalog
from tracelake.schemas import MAX_EVENT_BYTES


def events_table(ctx) -> pa.Table:
    return ctx.lake.read(catalog.BRONZE_EVENTS)


def quarantine_rows(ctx) -> list[dict]:
    rows = ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    return sorted(rows, key=lambda r: int(r["source_position"].split(":")[1]))


BAD_LINES = {
    "bad_json": (b'{"event_id": "x", "run_id": ', "not valid JSON"),
    "bad_utf8": (b'{"event_id": "u\xff\xfe", "run_id": "r"}', "UTF-8"),
    "missing": (orjson.dumps({k: v for k, v in event(90).items() if k != "run_id"}), "run_id"),
    "mistyped": (orjson.dumps(event(91, seq="three")), "seq"),
    "unknown_type": (orjson.dumps(event(92, event_type="tool_cal")), "unknown event_type"),
    "oversize": (orjson.dumps(event(93, output="x" * (MAX_EVENT_BYTES + 10))), "byte limit"),
    "not_object": (b"[1, 2, 3]", "not an object"),
}
EXPECTED_CODE = {
    "bad_json": "bad_json",
    "bad_utf8": "bad_utf8",
    "missing": "schema",
    "mistyped": "schema",
    "unknown_type": "unknown_event_type",
    "oversize": "oversize",
    "not_object": "schema",
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_each_bad_record_kind_is_quarantined_and_good_records_stored(ctx, tmp_path, kind):
    bad, reason_fragment = BAD_LINES[kind]
    path = write_lines(tmp_path / "in.jsonl", [event(0), event(1), bad, event(2)])

    result = job.run(ctx, [str(path)])

    assert sorted(events_table(ctx)["event_id"].to_pylist()) == ["run-1-e0", "run-1-e1", "run-1-e2"]
    (q,) = quarantine_rows(ctx)
    assert q["reason_code"] == EXPECTED_CODE[kind]
    assert reason_fragment in q["reason"]
    assert q["source_uri"] == str(path)
    assert q["source_position"] == "line:3"
    assert q["raw_bytes"] == len(bad)
    assert q["raw"].encode()[:20] == bad.decode("utf-8", "replace").encode()[:20]
    assert (result.rows_in, result.rows_out, result.rows_quarantined) == (4, 3, 1)


def test_event_id_stored_with_other_content_is_a_conflict(ctx, tmp_path):
    job.run(ctx, [str(write_lines(tmp_path / "a.jsonl", [event(0), event(1)]))])
    changed = event(1, component_version="9.9")
    result = job.run(ctx, [str(write_lines(tmp_path / "b.jsonl", [changed, event(2)]))])

    assert result.rows_out == 1 and result.rows_quarantined == 1
    (q,) = quarantine_rows(ctx)
    assert q["reason_code"] == "id_conflict"
    assert "run-1-e1" in q["reason"]
    assert json.loads(q["raw"])["component_version"] == "9.9"
    stored = {r["event_id"]: r for r in events_table(ctx).to_pylist()}
    assert stored["run-1-e1"]["component_version"] is None


def test_reingest_stores_nothing_new(ctx, tmp_path):
    path = write_lines(tmp_path / "in.jsonl", [event(i) for i in range(20)] + [b"garbage"])
    first = job.run(ctx, [str(path)])
    version = ctx.lake.version(catalog.BRONZE_EVENTS)
    q_version = ctx.lake.version(catalog.BRONZE_QUARANTINE)

    second = job.run(ctx, [str(path)])

    assert (first.rows_out, first.rows_quarantined) == (20, 1)
    assert (second.rows_out, second.rows_quarantined, second.rows_duplicate) == (0, 0, 21)
    for result in (first, second):  # nothing lost: every record is accounted for
        assert result.rows_in == result.rows_out + result.rows_duplicate + result.rows_quarantined
    assert second.status == "noop"
    assert ctx.lake.version(catalog.BRONZE_EVENTS) == version
    assert ctx.lake.version(catalog.BRONZE_QUARANTINE) == q_version
    assert events_table(ctx).num_rows == 20


def test_same_event_moved_to_another_file_is_a_duplicate_not_a_conflict(ctx, tmp_path):
    job.run(ctx, [str(write_lines(tmp_path / "a.jsonl", [event(0)]))])
    result = job.run(ctx, [str(write_lines(tmp_path / "moved" / "b.jsonl", [event(0)]))])
    assert (result.rows_out, result.rows_duplicate, result.rows_quarantined) == (0, 1, 0)


def test_duplicates_inside_a_batch_are_removed(ctx, tmp_path):
    a = write_lines(tmp_path / "a.jsonl", [event(0), event(1), event(1)])
    b = write_lines(tmp_path / "b.jsonl", [event(1), event(2)])
    result = job.run(ctx, [str(a), str(b)])
    assert sorted(events_table(ctx)["event_id"].to_pylist()) == ["run-1-e0", "run-1-e1", "run-1-e2"]
    assert result.rows_duplicate == 2


def test_one_commit_per_batch_and_a_job_run_row(ctx, tmp_path):
    paths = [
        write_lines(tmp_path / f"f{i}.jsonl", [event(j, run=f"r{i}") for j in range(5)])
        for i in range(3)
    ]
    result = job.run(ctx, [str(p) for p in paths])

    assert ctx.lake.version(catalog.BRONZE_EVENTS) == 1  # 0 = create, 1 = the batch
    runs = ctx.lake.read(catalog.OPS_JOB_RUNS).to_pylist()
    (run,) = [r for r in runs if r["job"] == "ingest"]
    assert run["status"] == "succeeded"
    assert (run["rows_in"], run["rows_out"]) == (15, 15)
    assert json.loads(run["versions_written"]) == {"bronze.events": 1}
    assert json.loads(run["params"])["paths"] == [str(p) for p in paths]
    assert result.versions_written == {"bronze.events": 1}


def test_batches_split_by_size_commit_separately(ctx, tmp_path):
    ctx.settings.ingest.batch_rows = 4
    paths = [
        write_lines(tmp_path / f"f{i}.jsonl", [event(j, run=f"r{i}") for j in range(5)])
        for i in range(3)
    ]
    job.run(ctx, [str(p) for p in paths])
    assert ctx.lake.version(catalog.BRONZE_EVENTS) == 3
    assert events_table(ctx).num_rows == 15


@pytest.mark.parametrize("compress", ["gz", "zst"])
def test_compressed_inputs(ctx, tmp_path, compress):
    path = write_lines(tmp_path / f"in.jsonl.{compress}", [event(0), event(1)], compress=compress)
    assert job.run(ctx, [str(path)]).rows_out == 2


def test_directories_and_globs(ctx, tmp_path):
    write_lines(tmp_path / "d" / "x" / "a.jsonl", [event(0, run="a")])
    write_lines(tmp_path / "d" / "b.jsonl", [event(0, run="b")])
    write_lines(tmp_path / "d" / ".hidden.jsonl", [event(0, run="hidden")])
    write_lines(tmp_path / "g" / "c.jsonl", [event(0, run="c")])
    result = job.run(ctx, [str(tmp_path / "d"), str(tmp_path / "g" / "*.jsonl")])
    assert result.details["files"] == 3
    assert sorted(events_table(ctx)["run_id"].to_pylist()) == ["a", "b", "c"]


def test_corrupt_compressed_file_is_quarantined_not_fatal(ctx, tmp_path):
    bad = tmp_path / "broken.jsonl.gz"
    bad.write_bytes(b"this is not gzip")
    good = write_lines(tmp_path / "good.jsonl", [event(0)])
    result = job.run(ctx, [str(bad), str(good)])
    assert result.rows_out == 1
    (q,) = ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    assert q["source_uri"] == str(bad) and "decompress" in q["reason"]


def test_parallel_parse_matches_sequential(ctx, tmp_path, monkeypatch):
    lines = [event(i, run=f"run-{i // 50}") for i in range(4000)] + [b"{broken"] * 3
    path = write_lines(tmp_path / "big.jsonl", lines)
    monkeypatch.setattr(job, "CHUNK_BYTES", 64 * 1024)
    monkeypatch.setattr(job, "PARALLEL_MIN_BYTES", 1)
    ctx.settings.ingest.workers = 2
    result = job.run(ctx, [str(path)])
    assert (result.rows_out, result.rows_quarantined) == (4000, 3)
    positions = sorted(int(q["source_position"][5:]) for q in quarantine_rows(ctx))
    assert positions == [4001, 4002, 4003]
    stored = events_table(ctx).to_pylist()
    by_id = {r["event_id"]: r for r in stored}
    assert by_id["run-79-e3999"]["source_position"] == "line:4000"


def test_bronze_tables_are_partitioned_and_append_only(ctx, tmp_path):
    job.run(ctx, [str(write_lines(tmp_path / "a.jsonl", [event(0), event(1), event(2)]))])
    table = ctx.lake.table(catalog.BRONZE_EVENTS)
    assert table.metadata().partition_columns == ["event_date"]
    assert table.metadata().configuration["delta.appendOnly"] == "true"
    dates = {f.partition_values["event_date"] for f in ctx.lake.files(catalog.BRONZE_EVENTS)}
    assert len(dates) == 3
    assert (
        ctx.lake.table(catalog.BRONZE_QUARANTINE).metadata().configuration["delta.appendOnly"]
        == "true"
    )


def test_input_errors(ctx, tmp_path):
    with pytest.raises(InputNotFoundError, match=r"nope\.jsonl"):
        job.run(ctx, [str(tmp_path / "nope.jsonl")])
    path = write_lines(tmp_path / "a.jsonl", [event(0)])
    with pytest.raises(UnknownFormatError, match="known formats"):
        job.run(ctx, [str(path)], format="no-such-format")


def test_lake_root_that_is_not_a_lake(local_settings, tmp_path):
    from tracelake.jobs.context import JobContext

    (tmp_path / "notalake" / "bronze" / "events").mkdir(parents=True)
    (tmp_path / "notalake" / "bronze" / "events" / "random.txt").write_text("hello")
    settings = local_settings.model_copy(update={"lake_root": str(tmp_path / "notalake")})
    path = write_lines(tmp_path / "a.jsonl", [event(0)])
    with pytest.raises(NotALakeError, match="not a Delta table"):
        job.run(JobContext.create(settings), [str(path)])


def test_app_transaction_makes_a_retried_append_a_noop(ctx):
    rows = pa.Table.from_pylist([], schema=catalog.OPS_JOB_RUNS.schema)
    first = ctx.lake.append(catalog.OPS_JOB_RUNS, rows, app_txn=("retry-test", 1))
    assert first is not None
    assert ctx.lake.append(catalog.OPS_JOB_RUNS, rows, app_txn=("retry-test", 1)) is None
    assert ctx.lake.txn_version(catalog.OPS_JOB_RUNS, "retry-test") == 1


def test_unrecognised_files_are_quarantined(ctx, tmp_path):
    weird = tmp_path / "notes.dat"
    weird.write_bytes(b"\x00\x01\x02 not a trace")
    (tmp_path / "README.md").write_text("# my traces\n")
    result = job.run(ctx, [str(weird), str(tmp_path / "README.md")])
    codes = {
        q["source_uri"].rsplit("/", 1)[-1]: q["reason_code"]
        for q in ctx.lake.read(catalog.BRONZE_QUARANTINE).to_pylist()
    }
    assert codes == {"notes.dat": "unrecognised_format", "README.md": "not_a_trace"}
    assert result.rows_quarantined == 2 and result.rows_out == 0


def test_ingest_reads_relative_paths_and_records_absolute_uris(ctx, tmp_path, monkeypatch):
    write_lines(tmp_path / "rel" / "a.jsonl", [event(0)])
    monkeypatch.chdir(tmp_path)
    job.run(ctx, ["rel/a.jsonl"])
    (row,) = events_table(ctx).to_pylist()
    assert Path(row["source_uri"]).is_absolute()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_ingest_opts_out_of_huge_pages_while_it_runs(ctx, tmp_path, monkeypatch):
    libc = ctypes.CDLL(None)
    before = libc.prctl(42, 0, 0, 0, 0)  # PR_GET_THP_DISABLE
    during = []
    real_run = job._run

    def watch(*args):
        during.append(libc.prctl(42, 0, 0, 0, 0))
        return real_run(*args)

    monkeypatch.setattr(job, "_run", watch)
    job.run(ctx, [str(write_lines(tmp_path / "a.jsonl", [event(0)]))])
    ctx.settings.ingest.huge_pages = True
    job.run(ctx, [str(tmp_path / "a.jsonl")])
    assert during == [1, before]
    assert libc.prctl(42, 0, 0, 0, 0) == before
