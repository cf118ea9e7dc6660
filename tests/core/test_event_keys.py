"""bronze.event_keys, the persistent deduplication index, on real Delta tables: decisions
through it are the decisions of a full read (duplicates, conflicts, after compaction and
VACUUM, with the index lagging, rebuilt from bronze alone, with concurrent writers), and a
writer reads its batch's share of history, not the table."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash
from deltalake import DeltaTable
from eventlines import event, write_lines

from tracelake.jobs import maintain
from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import dialects, event_keys
from tracelake.jobs.ingest import job as ingest_job
from tracelake.jobs.ingest.model import SourceDoc
from tracelake.jobs.ingest.normalize import parse_doc
from tracelake.jobs.ingest.writer import BronzeWriter
from tracelake.jobs.lake import catalog
from tracelake.jobs.settings import Settings

EVENTS = catalog.BRONZE_EVENTS
KEYS = catalog.BRONZE_EVENT_KEYS
ROW_GROUP_ROWS = 64


def _ctx(tmp_path: Path, name: str = "lake", **ingest: object) -> JobContext:
    settings = Settings(
        lake_root=str(tmp_path / name),
        # Every writer appends what it committed, in small row groups: a small lake then has
        # many row groups, as a large one has.
        ingest={"key_index_append_rows": 1, "key_index_row_group_rows": ROW_GROUP_ROWS, **ingest},
        maintenance={"min_small_files": 2, "retention_hours": 0},
    )
    return JobContext.create(settings)


def _ingest(ctx: JobContext, path: Path, lines: list[dict]) -> tuple[int, int, int]:
    result = ingest_job.run(ctx, [str(write_lines(path, lines))])
    assert result.status in ("succeeded", "noop"), result.error
    return result.rows_out, result.rows_duplicate, result.rows_quarantined


def _fill(ctx: JobContext, tmp_path: Path, runs: int, per_run: int = 50, first: int = 0) -> None:
    for r in range(first, first + runs):
        lines = [event(i, run=f"old-{r}") for i in range(per_run)]
        assert _ingest(ctx, tmp_path / "in" / f"old-{r}.jsonl", lines)[0] == per_run


def _probe() -> list[dict]:
    """A batch against a filled lake: new events, exact copies, and changed copies."""
    return (
        [event(i, run="new") for i in range(20)]
        + [event(i, run="old-1") for i in range(5)]
        + [event(7, run="old-2", action="edited"), event(8, run="old-0", action="edited")]
    )


def _decisions(ctx: JobContext, lines: list[dict]) -> tuple[list[str], int, list[str]]:
    """What a new writer decides for `lines`, without committing: (new ids, duplicates,
    conflicting ids)."""
    writer = BronzeWriter(ctx, "probe")
    events = _parsed(lines)[0].events.select(["event_id", "content_hash"])
    fresh, duplicates, conflicts = writer._dedupe.split(events)
    return (
        sorted(fresh["event_id"].to_pylist()),
        duplicates,
        sorted(conflicts["event_id"].to_pylist()),
    )


def _parsed(lines: list[dict]) -> list:
    data = b"\n".join(orjson.dumps(x) for x in lines)
    return [parse_doc(dialects.get("canonical"), SourceDoc("mem://x.jsonl", data), "b")]


def _covered(ctx: JobContext) -> int | None:
    events, keys = ctx.lake.table(EVENTS), ctx.lake.table(KEYS)
    assert events is not None
    return None if keys is None else keys.transaction_version(event_keys.coverage_app(events))


EXPECTED = (
    sorted(f"new-e{i}" for i in range(20)),
    5,
    ["old-0-e8", "old-2-e7"],
)


def test_parquet_bloom_hash_is_xxh64_of_the_little_endian_int64():
    values = np.array([0, 1, -1, 2**63 - 1, -(2**63), 123456789], np.int64)
    expected = [xxhash.xxh64_intdigest(struct.pack("<q", int(v))) for v in values]
    assert event_keys.xxh64_of_int64(values).tolist() == expected


def test_sorted_keys_orders_by_id_hash_and_drops_exact_repeats_only():
    keys = pa.table(
        {
            "event_id": ["b", "a", "c", "a", "b", "a"],
            "content_hash": ["1", "2", "3", "2", "9", "2"],
        }
    )
    table = event_keys.sorted_keys(keys)
    assert table["id_hash"].to_pylist() == sorted(table["id_hash"].to_pylist())
    pairs = zip(table["event_id"].to_pylist(), table["content_hash"].to_pylist(), strict=True)
    rows = sorted(pairs)
    assert rows == [("a", "2"), ("b", "1"), ("b", "9"), ("c", "3")]


def test_index_files_are_sorted_row_groups_with_bloom_filters_that_rule_out_new_ids(tmp_path):
    ctx = _ctx(tmp_path)
    _fill(ctx, tmp_path, runs=4)
    assert _covered(ctx) == ctx.lake.version(EVENTS)
    merged = maintain.run(ctx, [KEYS.qualified_name], vacuum=False)  # merge into one file
    assert merged.status == "succeeded"
    assert merged.message.endswith("bronze.event_keys: 4 small file(s) merged")
    (key_file,) = ctx.lake.files(KEYS)
    meta = pq.read_metadata(key_file.uri.removeprefix("file://"))
    assert meta.num_rows == 200 and meta.num_row_groups == 200 // ROW_GROUP_ROWS + 1
    column = meta.row_group(0).column(0)
    assert column.path_in_schema == "id_hash" and column.bloom_filter_offset is not None
    # The footer holds the ranges and fences once (no Arrow schema repeating them).
    assert set(meta.metadata) == {event_keys.RANGES_KEY, event_keys.FENCES_KEY}
    loaded = event_keys.load_key_file(key_file.uri, {})
    assert loaded.is_sorted and (loaded.bloom_start >= 0).all()
    # The fast load (ranges from one footer key, filters read at once and used in place)
    # reads what the footer says row group by row group: the same ranges, filters and answers.
    by_row_group = event_keys.load_key_file(key_file.uri, {}, regular=False)
    for name in ("mins", "maxs", "bloom_blocks"):
        assert np.array_equal(getattr(loaded, name), getattr(by_row_group, name)), name
    stored = pq.read_table(key_file.uri.removeprefix("file://"))["id_hash"].to_numpy()
    positions, _ = loaded.candidates(stored)
    assert sorted(positions.tolist()) == list(range(200))  # no false negative
    new_ids = event_keys.id_hashes(pa.array([f"never-{i}" for i in range(5000)]))
    _, groups = loaded.candidates(new_ids)
    assert 0 < len(groups) < 0.1 * len(new_ids)  # the filter rules out nearly all new ids
    for hashes in (stored, new_ids):
        for fast, slow in zip(
            loaded.candidates(hashes), by_row_group.candidates(hashes), strict=True
        ):
            assert np.array_equal(fast, slow)


def test_duplicates_and_conflicts_are_found_through_the_index_without_reading_bronze(tmp_path):
    ctx = _ctx(tmp_path)
    _fill(ctx, tmp_path, runs=4)
    writer = BronzeWriter(ctx, "w")
    assert writer._dedupe.history is not None and writer.bronze_rows_read == 0
    assert _decisions(ctx, _probe()) == EXPECTED
    # End to end: conflicts quarantined as id_conflict, copies counted as duplicates.
    assert _ingest(ctx, tmp_path / "probe.jsonl", _probe()) == (20, 5, 2)
    reasons = ctx.lake.read(catalog.BRONZE_QUARANTINE, columns=["reason_code"])
    assert reasons["reason_code"].to_pylist() == ["id_conflict", "id_conflict"]
    assert _ingest(ctx, tmp_path / "probe.jsonl", _probe()) == (0, 27, 0)


def test_a_writer_reads_its_batch_share_of_history_not_the_table(tmp_path):
    indexed = _ctx(tmp_path)
    _fill(indexed, tmp_path, runs=20)  # 1,000 events
    maintain.run(indexed, [KEYS.qualified_name], vacuum=False)
    writer = BronzeWriter(indexed, "w")
    assert writer._dedupe.history is not None
    batch = [event(i, run="new") for i in range(10)] + [event(i, run="old-3") for i in range(3)]
    outcome = writer.commit(_parsed(batch), app_id="probe")
    assert (outcome.stored, outcome.duplicates) == (10, 3)
    assert writer.bronze_rows_read == 0  # no bronze file read
    # Three duplicates, each one fence block; new ids rarely pass a Bloom filter.
    assert 0 < writer._dedupe.index_rows_read <= 5 * ROW_GROUP_ROWS < 1000
    assert writer._dedupe.history.row_groups_read == 0  # exact copies: no row group decoded

    full = _ctx(tmp_path, key_index=False)
    assert BronzeWriter(full, "w").bronze_rows_read == 1010  # the hook counts a full read


def test_a_lagging_index_reads_only_the_tail_and_decides_exactly(tmp_path):
    ctx = _ctx(tmp_path)
    _fill(ctx, tmp_path, runs=2)
    covered = _covered(ctx)
    ctx.settings.ingest.key_index_append_rows = 10**9  # writers stop appending: the index lags
    _fill(ctx, tmp_path, runs=1, first=2)
    tail = [event(i, run="tail") for i in range(30)]
    assert _ingest(ctx, tmp_path / "tail.jsonl", tail) == (30, 0, 0)
    assert _covered(ctx) == covered < ctx.lake.version(EVENTS)

    writer = BronzeWriter(ctx, "w")
    assert writer.bronze_rows_read == 80  # old-2 and the tail run, not the covered rows
    probe = [*_probe(), event(3, run="tail"), event(4, run="tail", action="edited")]
    expected = (EXPECTED[0], EXPECTED[1] + 1, sorted([*EXPECTED[2], "tail-e4"]))
    assert _decisions(ctx, probe) == expected
    assert _decisions(_ctx(tmp_path, key_index=False), probe) == expected


def test_compaction_and_vacuum_of_bronze_keep_decisions_and_reread_nothing_covered(tmp_path):
    ctx = _ctx(tmp_path)
    _fill(ctx, tmp_path, runs=6)
    files_before = len(ctx.lake.files(EVENTS))
    result = maintain.run(ctx, [EVENTS.qualified_name])
    assert result.details["tables"][EVENTS.qualified_name]["compacted"]["files_removed"] > 1
    assert len(ctx.lake.files(EVENTS)) < files_before
    writer = BronzeWriter(ctx, "w")
    assert writer.bronze_rows_read == 0  # compacted files hold only covered rows
    assert _decisions(ctx, _probe()) == EXPECTED


def test_a_compacted_tail_is_read_through_the_compaction_output(tmp_path):
    ctx = _ctx(tmp_path)
    _fill(ctx, tmp_path, runs=2)
    ctx.settings.ingest.key_index_append_rows = 10**9  # the index lags behind the tail
    _ingest(ctx, tmp_path / "tail.jsonl", [event(i, run="tail") for i in range(10)])
    # Compaction rewrites the tail's files together with covered ones; VACUUM deletes them.
    maintain.run(ctx, [EVENTS.qualified_name])
    probe = [event(1, run="tail"), event(2, run="tail", action="edited"), event(0, run="x")]
    expected = (["x-e0"], 1, ["tail-e2"])
    assert _decisions(ctx, probe) == expected
    assert _decisions(_ctx(tmp_path, key_index=False), probe) == expected
    # Maintenance brings the index up to date: the next writer reads nothing from bronze.
    maintain.run(ctx, [KEYS.qualified_name])
    assert _covered(ctx) == ctx.lake.version(EVENTS)
    assert BronzeWriter(ctx, "w").bronze_rows_read == 0
    assert _decisions(ctx, probe) == expected


def test_an_index_rebuilt_from_bronze_alone_gives_the_same_decisions(tmp_path):
    ctx = _ctx(tmp_path)
    _fill(ctx, tmp_path, runs=5)
    _ingest(ctx, tmp_path / "mixed.jsonl", _probe())  # stores conflicts' first versions too
    probe = [*_probe(), event(30, run="old-4"), event(31, run="old-4", action="x")]
    incremental = _decisions(ctx, probe)

    keys_dir = Path(ctx.lake.uri(KEYS))
    for path in keys_dir.glob("*.parquet"):  # lose the index's data files
        path.unlink()
    result = maintain.run(ctx, [KEYS.qualified_name], rebuild_event_keys=True)
    assert result.details["event_keys"]["action"] == "rebuilt"
    assert _covered(ctx) == ctx.lake.version(EVENTS)
    rebuilt = BronzeWriter(ctx, "w")
    assert rebuilt.bronze_rows_read == 0
    assert _decisions(ctx, probe) == incremental
    assert _decisions(_ctx(tmp_path, key_index=False), probe) == incremental


def test_maintenance_merges_small_index_files_and_drops_repeated_keys(tmp_path):
    ctx = _ctx(tmp_path)
    _fill(ctx, tmp_path, runs=5)
    assert len(ctx.lake.files(KEYS)) == 5
    result = maintain.run(ctx, [KEYS.qualified_name])
    assert result.details["event_keys"]["files_merged"] == 5
    assert len(ctx.lake.files(KEYS)) == 1
    assert ctx.lake.count(KEYS) == ctx.lake.count(EVENTS) == 250
    assert _decisions(ctx, _probe()) == EXPECTED


def test_concurrent_writers_with_overlapping_input_store_each_event_once(tmp_path):
    ctx = _ctx(tmp_path)
    _fill(ctx, tmp_path, runs=2)
    shared = [event(i, run="shared") for i in range(200)] + [event(3, run="old-1")]
    inputs = [
        write_lines(tmp_path / "in" / f"w{w}.jsonl", [*shared, event(0, run=f"w{w}")])
        for w in range(3)
    ]
    env = {
        **os.environ,
        "TRACELAKE_LAKE_ROOT": ctx.lake.root,
        "TRACELAKE_INGEST__KEY_INDEX_APPEND_ROWS": "1",
        "TRACELAKE_INGEST__KEY_INDEX_ROW_GROUP_ROWS": str(ROW_GROUP_ROWS),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", "from tracelake.jobs.cli import main; main()", "ingest", str(p)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for p in inputs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
    ids = ctx.lake.read(EVENTS, columns=["event_id"])["event_id"].to_pylist()
    assert len(ids) == len(set(ids)) == 100 + 200 + 3
    # Whatever the index holds now, it decides as a full read does.
    probe = [*shared[:5], event(0, run="w1", action="changed"), event(9, run="fresh")]
    expected = (["fresh-e9"], 5, ["w1-e0"])
    assert _decisions(ctx, probe) == expected
    maintain.run(ctx, [KEYS.qualified_name])
    assert _decisions(ctx, probe) == expected
    assert _decisions(_ctx(tmp_path, key_index=False), probe) == expected


def test_after_an_erasure_the_index_is_not_trusted_until_rebuilt(tmp_path):
    ctx = _ctx(tmp_path)
    _fill(ctx, tmp_path, runs=3)
    # What `tracelake erase --run old-1` does to bronze: unlock, delete the rows, relock.
    table = DeltaTable(ctx.lake.uri(EVENTS))
    table.alter.set_table_properties({"delta.appendOnly": "false"})
    table.delete("run_id = 'old-1'")
    table.alter.set_table_properties({"delta.appendOnly": "true"})

    resent = [event(i, run="old-1") for i in range(3)]
    expected = (sorted(f"old-1-e{i}" for i in range(3)), 0, [])
    writer = BronzeWriter(ctx, "w")
    assert writer._dedupe.history is None  # the index still holds the erased ids: unused
    assert _decisions(ctx, resent) == expected
    assert _ingest(ctx, tmp_path / "resent.jsonl", resent) == (3, 0, 0)
    assert _covered(ctx) is not None and _covered(ctx) < ctx.lake.version(EVENTS)

    result = maintain.run(ctx, [KEYS.qualified_name])
    assert result.details["event_keys"]["action"] == "rebuilt"
    assert BronzeWriter(ctx, "w")._dedupe.history is not None
    assert _decisions(ctx, resent) == ([], 3, [])


@pytest.mark.parametrize("key_index", [True, False])
def test_the_setting_chooses_index_or_full_read(tmp_path, key_index):
    ctx = _ctx(tmp_path, key_index=key_index)
    _fill(ctx, tmp_path, runs=2)
    assert (ctx.lake.table(KEYS) is not None) == key_index
    assert _decisions(ctx, _probe()[:22]) == (EXPECTED[0], 2, [])


def test_a_long_lived_writer_follows_merges_and_vacuum_of_the_index(tmp_path):
    # The collector keeps one writer for its session: maintenance merges the index files it
    # opened and VACUUM deletes them; it must move to the merged files and keep deciding.
    ctx = _ctx(tmp_path)
    writer = BronzeWriter(ctx, "session")
    for b in range(3):
        batch = [event(i, run=f"s{b}") for i in range(20)]
        assert writer.commit(_parsed(batch), app_id="collector", app_version=b + 1).stored == 20
    assert writer._dedupe.ids == []  # appended to the index, dropped from memory
    opened = {f.uri for f in writer._dedupe.history.files}
    maintain.run(ctx, [KEYS.qualified_name])  # merge, then VACUUM (retention 0) deletes them
    assert not any(Path(uri.removeprefix("file://")).exists() for uri in opened)
    again = [event(3, run="s0"), event(4, run="s2", action="edited"), event(0, run="s3")]
    outcome = writer.commit(_parsed(again), app_id="collector", app_version=4)
    assert (outcome.stored, outcome.duplicates, outcome.quarantined) == (1, 1, 1)
    assert {f.uri for f in writer._dedupe.history.files}.isdisjoint(opened)


def test_the_cli_rebuilds_the_index_from_bronze(tmp_path):
    ctx = _ctx(tmp_path)
    _fill(ctx, tmp_path, runs=2)
    env = {**os.environ, "TRACELAKE_LAKE_ROOT": ctx.lake.root}
    command = "from tracelake.jobs.cli import main; main()"
    args = ["maintain", "--table", KEYS.qualified_name, "--rebuild-event-keys", "--json"]
    done = subprocess.run(
        [sys.executable, "-c", command, *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert orjson.loads(done.stdout)["details"]["event_keys"]["action"] == "rebuilt"
    assert _covered(ctx) == ctx.lake.version(EVENTS)
    assert _decisions(ctx, _probe()[:22]) == (EXPECTED[0], 2, [])


def test_an_append_retried_for_the_same_bronze_version_adds_no_key_twice(tmp_path):
    ctx = _ctx(tmp_path)
    _fill(ctx, tmp_path, runs=1)
    ctx.settings.ingest.key_index_append_rows = 10**9
    _fill(ctx, tmp_path, runs=1, first=1)  # the index lags by one run
    events = ctx.lake.table(EVENTS)
    assert events is not None
    covered = _covered(ctx)
    assert covered is not None
    tail = event_keys.rows_added_since(ctx.lake, covered, events.version())
    assert tail is not None and not tail.removed_data
    chunk = event_keys.Chunk(events.version(), event_keys.read_keys(ctx.lake, tail.paths))
    append = (ctx.lake, events, [chunk], events.version(), covered, ROW_GROUP_ROWS, 10**6)
    assert event_keys.append_keys(*append) is not None
    assert event_keys.append_keys(*append) is None  # its app transaction is there already
    assert ctx.lake.count(KEYS) == ctx.lake.count(EVENTS) == 100


def _key_file(tmp_path: Path, keys: pa.Table, row_group_rows: int) -> event_keys.KeyFile:
    """One index file of `keys` (already sorted), loaded as a lookup loads it."""
    lake = _ctx(tmp_path).lake
    (written,) = event_keys.write_key_files(lake, keys, row_group_rows, keys.num_rows + 1)
    return event_keys.load_key_file(f"{lake.uri(KEYS)}/{written.path}", {})


def _digest(i: int) -> str:
    return f"{i:032x}"


def test_the_fixed_layout_settles_copies_and_absent_ids_from_two_small_reads(tmp_path):
    ids = pa.array([f"run-{i // 10}-e{i % 10}" for i in range(5000)])
    keys = event_keys.sorted_keys(
        pa.table({"event_id": ids, "content_hash": [_digest(i) for i in range(5000)]})
    )
    key_file = _key_file(tmp_path, keys, row_group_rows=1000)
    layout = key_file.layout
    assert layout is not None and layout.rows.tolist() == [1000] * 5
    assert len(layout.fences) == 5 * 4  # rows 0, 256, 512, 768 of each row group
    hashes = keys["id_hash"].to_numpy()
    groups = np.arange(5000) // 1000
    contents = keys["content_hash"].to_pylist()

    copies = key_file.settle(hashes, groups, contents, {})
    assert sorted(k for k, _ in copies.stored) == list(range(5000))
    assert [c for _, c in sorted(copies.stored)] == contents
    assert not copies.unsettled.any()
    assert copies.rows_read <= 5000 * event_keys.FENCE_ROWS

    # Another content under a stored id (a conflict), or no content brought: the row group
    # decides. A hash no row holds is not stored, whatever passed the Bloom filter.
    edited = key_file.settle(hashes[:3], groups[:3], ["f" * 32, None, contents[2]], {})
    assert edited.stored == [(2, contents[2])] and edited.unsettled.tolist() == [True, True, False]
    between = hashes[10:13] + 1  # not stored: neighbours of stored hashes
    assert not np.isin(between, hashes).any()
    absent = key_file.settle(between, groups[10:13], contents[10:13], {})
    assert absent.stored == [] and not absent.unsettled.any()


def test_equal_id_hashes_across_a_fence_are_all_compared(tmp_path):
    """Rows sharing an id hash (ids colliding on 64 bits) may straddle a fence; every one of
    them is compared, and a collision is never taken for a copy."""
    n = 600
    hashes = np.arange(n, dtype=np.int64) * 10
    hashes[250:262] = 2500  # rows 250..261 share a hash; row 256 carries a fence
    keys = pa.table(
        {
            "id_hash": pa.array(hashes, pa.int64()),
            "event_id": [f"id-{i}" for i in range(n)],
            "content_hash": [_digest(i) for i in range(n)],
        },
        schema=KEYS.schema,
    )
    key_file = _key_file(tmp_path, keys, row_group_rows=n)
    assert key_file.layout is not None
    probe = np.full(3, 2500, np.int64)
    settled = key_file.settle(
        probe, np.zeros(3, np.int64), [_digest(251), _digest(260), "e" * 32], {}
    )
    assert sorted(settled.stored) == [(0, _digest(251)), (1, _digest(260))]
    assert settled.unsettled.tolist() == [False, False, True]


def test_a_file_not_in_the_fixed_layout_is_read_by_row_groups_with_the_same_decisions(tmp_path):
    keys = event_keys.sorted_keys(
        pa.table(
            {
                "event_id": [f"e{i}" for i in range(3000)],
                "content_hash": [_digest(i) for i in range(3000)],
            }
        )
    )
    key_file = _key_file(tmp_path, keys, row_group_rows=1000)
    assert key_file.layout is not None
    # Fences that pass the footer checks (each row group's first is its minimum) but are wrong
    # inside: every read that meets one is refused and the row group decides.
    key_file.layout.fences = key_file.layout.fences.copy()
    key_file.layout.fences[1::4] += 1
    index = event_keys.KeyIndex(0, 0, [key_file], {})
    ids = pa.array([f"e{i}" for i in range(0, 3000, 7)] + ["never-1", "never-2"])
    contents = pa.array([_digest(i) for i in range(0, 3000, 7)] + ["0" * 32, "1" * 32])
    found, _ = index.lookup(ids, contents)
    assert found == {f"e{i}": _digest(i) for i in range(0, 3000, 7)}
    assert index.row_groups_read > 0

    # Written by another Parquet writer (compressed, no fences): no layout, same answers.
    other = tmp_path / "other.parquet"
    pq.write_table(keys.replace_schema_metadata(None), other, row_group_size=1000)
    plain = event_keys.load_key_file(str(other), {})
    assert plain.layout is None
    found_plain, _ = event_keys.KeyIndex(0, 0, [plain], {}).lookup(ids, contents)
    assert found_plain == found


def test_an_index_file_whose_filters_miss_its_keys_is_refused(tmp_path, monkeypatch):
    # A writer must not commit a file that lookups would read as "not stored" (duplicates
    # would follow): the check after each write samples every row group through the filters.
    ctx = _ctx(tmp_path)
    ids = pa.array([f"e{i}" for i in range(1000)])
    keys = event_keys.sorted_keys(
        pa.table({"event_id": ids, "content_hash": pa.array(["0" * 32] * 1000)})
    )
    event_keys.write_key_files(ctx.lake, keys, ROW_GROUP_ROWS, 10_000)  # a sound file passes

    def misses_one_key(self, hashes, groups):
        found = np.ones(len(hashes), bool)
        found[len(found) // 2] = False
        return found

    monkeypatch.setattr(event_keys.KeyFile, "_may_contain", misses_one_key)
    with pytest.raises(event_keys.TracelakeError, match="does not find all of its keys"):
        event_keys.write_key_files(ctx.lake, keys, ROW_GROUP_ROWS, 10_000)
