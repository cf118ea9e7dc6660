"""The embedded Delta bridge: round trips, pruning that really skips files, time travel and
version ranges, one atomic commit per write, exactly-once app transactions, append-only bronze."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyspark.sql import functions as F
from pyspark.sql.datasource import EqualTo, GreaterThan

from tracelake.jobs.errors import JobFailedError, TracelakeError
from tracelake.jobs.lake import Lake, catalog, spark_io
from tracelake.jobs.lake.catalog import TableSpec
from tracelake.jobs.lake.delta_source import plan_scan

pytestmark = pytest.mark.spark

DAYS = [dt.date(2026, 1, 1), dt.date(2026, 1, 2), dt.date(2026, 1, 3)]
ITEMS = TableSpec(
    tier="test",
    name="items",
    schema=pa.schema(
        [
            pa.field("item_id", pa.string(), nullable=False),
            pa.field("amount", pa.int64()),
            pa.field("at", pa.timestamp("us", tz="UTC")),
            pa.field("tags", pa.list_(pa.string())),
            pa.field("day", pa.date32(), nullable=False),
        ]
    ),
    partition_by=("day",),
    key=("item_id",),
)
SPARK_DDL = "item_id string, amount long, at timestamp, tags array<string>, day date"


def _rows(start: int, n: int) -> list[tuple]:
    return [
        (
            f"i{i:05d}",
            i,
            dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=i, microseconds=7),
            [f"t{i % 3}"] if i % 4 else None,
            DAYS[i % 3],
        )
        for i in range(start, start + n)
    ]


def _write(spark, lake, rows, **kw):
    return spark_io.write(spark.createDataFrame(rows, SPARK_DDL), ITEMS, lake=lake, **kw)


def _parquet_files(lake: Lake, spec: TableSpec) -> set[str]:
    root = Path(lake.uri(spec))
    return {str(p.relative_to(root)) for p in root.rglob("*.parquet")}


def _committed(lake: Lake, spec: TableSpec) -> set[str]:
    root = lake.uri(spec)
    return {f.uri.removeprefix(root + "/") for f in lake.files(spec)}


def test_round_trip_reads_back_every_row_and_partition_pruning_skips_files(spark, ctx):
    lake = ctx.lake
    first = _write(spark, lake, _rows(0, 60))
    second = _write(spark, lake, _rows(60, 60))
    assert (first.version, second.version) == (1, 2)  # version 0 created the table
    assert first.rows_added == second.rows_added == 60

    everything = spark_io.read(spark, ITEMS, lake=lake)
    got = sorted(tuple(r) for r in everything.collect())
    expected = sorted((i, a, t.replace(tzinfo=None), tags, d) for i, a, t, tags, d in _rows(0, 120))
    assert got == expected

    # delta-rs, reading the same table without Spark, agrees.
    assert lake.read(ITEMS).num_rows == 120

    # One input partition per file: the day filter must plan only that day's files.
    files_per_day = {d: len(lake.files(ITEMS, partitions=[("day", "=", str(d))])) for d in DAYS}
    all_files = sum(files_per_day.values())
    assert all_files >= 6
    one_day = spark_io.read(
        spark, ITEMS, lake=lake, max_partition_bytes=1, where=[("day", "=", DAYS[1])]
    )
    assert one_day.rdd.getNumPartitions() == files_per_day[DAYS[1]] < all_files
    assert one_day.count() == 40
    assert {r.day for r in one_day.select("day").distinct().collect()} == {DAYS[1]}

    plan = plan_scan(lake.uri(ITEMS), lake.storage_options, filters=[EqualTo(("day",), DAYS[1])])
    assert plan.files_skipped_by_partition == all_files - files_per_day[DAYS[1]]
    assert len(plan.files) == files_per_day[DAYS[1]]


def test_statistics_skip_files_whose_range_cannot_match(spark, ctx):
    lake = ctx.lake
    _write(spark, lake, _rows(0, 30))  # amounts 0..29
    _write(spark, lake, _rows(100, 30))  # amounts 100..129
    plan = plan_scan(lake.uri(ITEMS), lake.storage_options, filters=[GreaterThan(("amount",), 99)])
    assert plan.files_skipped_by_stats == len(lake.files(ITEMS, version=1))
    high = spark_io.read(
        spark, ITEMS, lake=lake, max_partition_bytes=1, where=[("amount", ">", 99)]
    )
    assert high.rdd.getNumPartitions() == len(plan.files)
    # Stats prune files; Spark still filters rows, so the answer is exact.
    assert sorted(r.amount for r in high.collect()) == list(range(100, 130))
    assert high.where("amount < 110").count() == 10


def test_one_query_s_filter_never_drops_rows_from_the_next_query_on_the_same_frame(spark, ctx):
    # Spark 4.2 keeps the reader a pushed filter planned and reuses it for a later query on the
    # same DataFrame; with pushdown on, the second count here was 1 instead of 3.
    lake = ctx.lake
    _write(spark, lake, _rows(0, 3))
    items = spark_io.read(spark, ITEMS, lake=lake)
    assert items.where("amount > 1").count() == 1
    assert items.count() == 3
    assert items.where(F.col("day").isNull()).count() == 0
    assert items.select("item_id").distinct().count() == 3


def test_predicates_are_exact_whatever_the_pruning(spark, ctx):
    lake = ctx.lake
    _write(spark, lake, _rows(0, 30))
    rows = _rows(0, 30)
    some_ids = [r[0] for r in rows[::4]]
    got = spark_io.read(
        spark,
        ITEMS,
        lake=lake,
        columns=["item_id"],
        where=[("item_id", "in", some_ids), ("amount", "<", 20)],
    )
    assert got.columns == ["item_id"]
    assert sorted(r.item_id for r in got.collect()) == sorted(r[0] for r in rows[::4] if r[1] < 20)
    with pytest.raises(TracelakeError, match="cannot filter"):
        spark_io.read(spark, ITEMS, lake=lake, where=[("nope", "=", 1)])
    with pytest.raises(TracelakeError, match="ops are"):
        spark_io.read(spark, ITEMS, lake=lake, where=[("item_id", "like", "a%")])


def test_time_travel_and_version_ranges(spark, ctx):
    lake = ctx.lake
    _write(spark, lake, _rows(0, 10))
    _write(spark, lake, _rows(10, 5))
    _write(spark, lake, _rows(15, 7))
    assert spark_io.read(spark, ITEMS, lake=lake, version=1).count() == 10
    assert spark_io.read(spark, ITEMS, lake=lake, version=2).count() == 15
    added = spark_io.read(spark, ITEMS, lake=lake, after_version=1)
    assert sorted(r.amount for r in added.collect()) == list(range(10, 22))
    middle = spark_io.read(spark, ITEMS, lake=lake, version=2, after_version=1)
    assert sorted(r.amount for r in middle.collect()) == list(range(10, 15))
    assert spark_io.read(spark, ITEMS, lake=lake, after_version=3).count() == 0


def test_write_is_one_commit_and_app_transaction_makes_it_exactly_once(spark, ctx):
    lake = ctx.lake
    df = spark.createDataFrame(_rows(0, 50), SPARK_DDL).repartition(4)
    done = spark_io.write(df, ITEMS, lake=lake, app_txn=("loader", 7))
    assert done.version == 1 and done.files_added >= 4  # four tasks, three days: one commit
    assert lake.txn_version(ITEMS, "loader") == 7
    again = spark_io.write(df, ITEMS, lake=lake, app_txn=("loader", 7))
    older = spark_io.write(df, ITEMS, lake=lake, app_txn=("loader", 3))
    assert again.version is None and older.version is None
    assert lake.version(ITEMS) == 1 and lake.count(ITEMS) == 50


def test_a_task_failure_leaves_the_table_unchanged(spark, ctx):
    lake = ctx.lake
    _write(spark, lake, _rows(0, 20))
    before_version, before_rows = lake.version(ITEMS), lake.read(ITEMS).num_rows

    @F.udf("long")
    def explode_on_one_row(amount):
        if amount == 1013:
            raise RuntimeError("boom in one task")
        return amount

    bad = (
        spark.createDataFrame(_rows(1000, 40), SPARK_DDL)
        .repartition(4)
        .withColumn("amount", explode_on_one_row("amount"))
    )
    with pytest.raises(JobFailedError, match="nothing was committed"):
        spark_io.write(bad, ITEMS, lake=lake)
    assert lake.version(ITEMS) == before_version
    assert lake.read(ITEMS).num_rows == before_rows
    assert spark_io.read(spark, ITEMS, lake=lake).count() == before_rows


def test_a_failed_commit_deletes_every_file_the_tasks_wrote(spark, ctx):
    lake = ctx.lake
    _write(spark, lake, _rows(0, 20))
    committed = _committed(lake, ITEMS)
    assert _parquet_files(lake, ITEMS) == committed
    df = spark.createDataFrame(_rows(500, 30), SPARK_DDL).repartition(3)
    # The tasks succeed; the driver's commit finds a file to replace gone and refuses.
    with pytest.raises(spark_io.ConcurrentWriteError, match="run the job again"):
        spark_io.write(df, ITEMS, lake=lake, replace_files=["day=2026-01-01/not-there.parquet"])
    assert lake.version(ITEMS) == 1
    assert _parquet_files(lake, ITEMS) == committed


def test_replace_files_rewrites_rows_in_the_same_commit(spark, ctx):
    lake = ctx.lake
    _write(spark, lake, _rows(0, 30))
    rows = spark_io.read(spark, ITEMS, lake=lake, file_column="_file")
    day1_files = sorted({r._file for r in rows.where(F.col("day") == DAYS[0]).collect()})
    kept = spark_io.read(spark, ITEMS, lake=lake, files=day1_files).where("amount <> 0")
    outcome = spark_io.write(kept, ITEMS, lake=lake, replace_files=day1_files)
    assert outcome.files_removed == len(day1_files)
    assert lake.read(ITEMS).num_rows == 29
    assert 0 not in lake.read(ITEMS, columns=["amount"])["amount"].to_pylist()


def test_overwrite_replaces_a_derived_table_but_bronze_refuses(spark, ctx):
    lake = ctx.lake
    _write(spark, lake, _rows(0, 30))
    _write(spark, lake, _rows(0, 4), mode="overwrite")
    assert lake.read(ITEMS).num_rows == 4
    lake.ensure(catalog.BRONZE_EVENTS)
    empty = spark.createDataFrame([], spark_io.spark_schema(catalog.BRONZE_EVENTS.schema))
    with pytest.raises(spark_io.AppendOnlyViolationError, match="append-only"):
        spark_io.write(empty, "bronze.events", lake=lake, mode="overwrite")
    # Even a caller that goes around the bridge is refused by the data source itself.
    with pytest.raises(Exception, match="append-only"):
        empty.write.format("tracelake_delta").mode("overwrite").option(
            "path", lake.uri(catalog.BRONZE_EVENTS)
        ).save()
    assert lake.version(catalog.BRONZE_EVENTS) == 0


def test_an_arrow_table_is_written_from_the_driver_with_the_same_guarantees(spark, ctx):
    lake = ctx.lake
    spark.sparkContext.setJobGroup("arrow-write", "arrow-write")
    table = pa.Table.from_pylist(
        [dict(zip(ITEMS.schema.names, r, strict=True)) for r in _rows(0, 30)], ITEMS.schema
    )
    done = spark_io.write(table, ITEMS, lake=lake, app_txn=("driver", 2), metadata={"job": "t"})
    assert done.version == 1 and done.rows_added == 30 and done.files_added == 3  # 3 days
    assert spark.sparkContext.statusTracker().getJobIdsForGroup("arrow-write") == []
    assert spark_io.write(table, ITEMS, lake=lake, app_txn=("driver", 2)).version is None
    assert lake.history(ITEMS, limit=1)[0]["tracelake.job"] == "t"
    assert lake.read(ITEMS).sort_by("item_id").equals(table.sort_by("item_id"))

    day1 = sorted(f for f in _committed(lake, ITEMS) if f.startswith("day=2026-01-01"))
    kept = lake.read(ITEMS).filter(pc.equal(lake.read(ITEMS)["day"], DAYS[0]))
    kept = kept.filter(pc.not_equal(kept["amount"], 0))
    rewrite = spark_io.write(kept, ITEMS, lake=lake, replace_files=day1)
    assert rewrite.files_removed == len(day1) and lake.read(ITEMS).num_rows == 29
    on_disk = _parquet_files(lake, ITEMS)
    with pytest.raises(spark_io.ConcurrentWriteError, match="run the job again"):
        spark_io.write(kept, ITEMS, lake=lake, replace_files=day1)  # already gone
    assert _parquet_files(lake, ITEMS) == on_disk  # the failed write's files were deleted

    spark_io.write(table.slice(0, 4), ITEMS, lake=lake, mode="overwrite")
    assert lake.read(ITEMS).num_rows == 4
    lake.ensure(catalog.BRONZE_EVENTS)
    with pytest.raises(spark_io.AppendOnlyViolationError, match="append-only"):
        spark_io.write(
            catalog.BRONZE_EVENTS.schema.empty_table(), "bronze.events", lake=lake, mode="overwrite"
        )


@pytest.mark.s3
def test_round_trip_on_an_s3_lake(spark, s3_settings):
    lake = Lake.from_settings(s3_settings)
    assert lake.root.startswith("s3://")
    _write(spark, lake, _rows(0, 30), app_txn=("s3-loader", 1))
    _write(spark, lake, _rows(30, 30))
    assert lake.txn_version(ITEMS, "s3-loader") == 1
    df = spark_io.read(spark, ITEMS, lake=lake, max_partition_bytes=1)
    assert df.count() == 60
    one_day = spark_io.read(
        spark, ITEMS, lake=lake, max_partition_bytes=1, where=[("day", "=", DAYS[2])]
    )
    assert one_day.rdd.getNumPartitions() == len(
        lake.files(ITEMS, partitions=[("day", "=", str(DAYS[2]))])
    )
    assert one_day.count() == 20
    assert spark_io.read(spark, ITEMS, lake=lake, after_version=1).count() == 30
    assert lake.read(ITEMS).num_rows == 60
