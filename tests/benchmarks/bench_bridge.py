"""Benchmark: the embedded Delta bridge against native Delta (delta-spark) and Spark's Parquet.

    python tests/benchmarks/bench_bridge.py [--rows 1000000] [--repeat 2]

Writes the same cached DataFrame (bronze.events-shaped rows, partitioned by event_date) with
Spark's Parquet writer, with native Delta (`format("delta")`, when `make native-jars` cached the
jars) and with the bridge (`spark_io.write`, one Delta commit), then reads each back in full
(every column materialised by the `noop` sink), all in one session. Targets: bridge write and
read >= 0.8x native Delta; >= 0.5x / 0.7x Spark's plain Parquet. Best of `--repeat` timings.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from tracelake.jobs.lake import Lake, catalog, spark_io
from tracelake.jobs.lake.catalog import TableSpec
from tracelake.jobs.settings import Settings
from tracelake.jobs.spark import get_session

TARGET_WRITE, TARGET_READ = 0.5, 0.7
TARGET_DELTA = 0.8

BENCH_EVENTS = TableSpec(
    tier="bench",
    name="events",
    schema=catalog.BRONZE_EVENTS.schema,
    partition_by=("event_date",),
    description="bronze.events-shaped benchmark table (not append-only: rewritten per round)",
)
NATIVE_EVENTS = TableSpec(
    tier="bench",
    name="events_native",
    schema=catalog.BRONZE_EVENTS.schema,
    partition_by=("event_date",),
    description="the same table written by native Delta",
)

ROWS_SQL = """
SELECT
  concat('evt-', id) AS event_id,
  concat('run-', id DIV 20) AS run_id,
  id % 20 AS seq,
  CASE WHEN id % 20 = 0 THEN NULL ELSE concat('evt-', id - 1) END AS parent_event_id,
  timestamp_micros(1772323200000000 + id * 2500000) AS ts,
  'bench' AS source,
  'canonical' AS dialect,
  concat('file:///bench/', id DIV 100000, '.jsonl') AS source_uri,
  concat('line:', id % 100000) AS source_position,
  element_at(array('tool_call', 'tool_result', 'agent_message', 'plan_created'),
             CAST(id % 4 + 1 AS INT)) AS event_type,
  element_at(array('WebFetch', 'Read', 'Summarizer', 'Write', 'Grep'),
             CAST(id % 5 + 1 AS INT)) AS component_name,
  'tool' AS component_kind,
  concat('1.', id % 3) AS component_version,
  concat('step ', id % 20) AS action,
  to_json(named_struct('url', concat('https://example.org/', sha1(CAST(id AS STRING))))) AS input,
  to_json(named_struct('bytes', id % 7919, 'digest', sha2(CAST(id AS STRING), 256))) AS output,
  NULL AS state_change,
  CASE WHEN id % 10 = 0 THEN concat('because ', md5(CAST(id AS STRING))) END AS reasoning,
  CASE WHEN id % 17 = 0 THEN 'error' ELSE 'ok' END AS status,
  CASE WHEN id % 17 = 0 THEN 'HTTP 403' END AS error,
  CASE WHEN id % 17 = 0 THEN 'http_403' END AS error_type,
  id % 900 AS tokens_in,
  id % 300 AS tokens_out,
  CAST((id % 1000) / 7.0 AS DOUBLE) AS latency_ms,
  CAST((id % 100) / 10000.0 AS DOUBLE) AS cost_usd,
  'SIMULATION' AS mode,
  CAST(NULL AS STRING) AS goal,
  CAST(NULL AS STRING) AS scenario,
  CAST(NULL AS STRING) AS scenario_level,
  map('k', CAST(id % 11 AS STRING)) AS attributes,
  1L AS schema_version,
  md5(CAST(id AS STRING)) AS content_hash,
  'bench-batch' AS batch_id,
  timestamp_micros(1772323200000000) AS ingested_at,
  to_date(timestamp_micros(1772323200000000 + id * 2500000)) AS event_date
FROM range({rows})
"""


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tracelake-bench-bridge-"))
    settings = Settings(lake_root=str(work / "lake"))
    spark = get_session(settings)
    lake = Lake.from_settings(settings)
    parquet_dir = work / "native-parquet"

    data = spark.sql(ROWS_SQL.format(rows=args.rows)).select(*BENCH_EVENTS.schema.names)
    data = data.repartition(spark.sparkContext.defaultParallelism * 2).cache()
    data.count()
    print(
        f"rows: {args.rows:,}  partitions: {data.rdd.getNumPartitions()}  "
        f"cores: {spark.sparkContext.defaultParallelism}"
    )

    best: dict[str, float] = {}

    def record(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, float("inf")), seconds)

    from tracelake.jobs.spark import native_delta_available

    native = native_delta_available(spark)
    if not native:
        print("native Delta jars not cached (make native-jars): native Delta column skipped")

    def bridge_write() -> None:
        with spark_io.using_engine("bridge"):
            spark_io.write(data, BENCH_EVENTS, lake=lake, mode="overwrite")

    def bridge_read() -> None:
        with spark_io.using_engine("bridge"):
            spark_io.read(spark, BENCH_EVENTS, lake=lake).write.format("noop").mode(
                "overwrite"
            ).save()

    def native_write() -> None:
        with spark_io.using_engine("native"):
            spark_io.write(data, NATIVE_EVENTS, lake=lake, mode="overwrite")

    def native_read() -> None:
        with spark_io.using_engine("native"):
            spark_io.read(spark, NATIVE_EVENTS, lake=lake).write.format("noop").mode(
                "overwrite"
            ).save()

    for round_no in range(args.repeat):
        if native:
            record("write native delta", timed(native_write))
            record("read native delta", timed(native_read))
        shutil.rmtree(parquet_dir, ignore_errors=True)
        record(
            "write native parquet",
            timed(
                lambda: (
                    data.write.mode("overwrite").partitionBy("event_date").parquet(str(parquet_dir))
                )
            ),
        )
        record(
            "write bridge (delta)",
            timed(bridge_write),
        )
        record(
            "read native parquet",
            timed(
                lambda: (
                    spark.read.parquet(str(parquet_dir))
                    .write.format("noop")
                    .mode("overwrite")
                    .save()
                )
            ),
        )
        record(
            "read bridge (delta)",
            timed(bridge_read),
        )
        print(f"round {round_no + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in best.items()))

    assert lake.count(BENCH_EVENTS) == args.rows, "bridge table lost rows"
    mb = sum(p.stat().st_size for p in parquet_dir.rglob("*.parquet")) / 1e6
    print(f"\nparquet size (native): {mb:.0f} MB")
    print(f"{'operation':<24}{'best s':>9}{'rows/s':>14}")
    for name, seconds in best.items():
        print(f"{name:<24}{seconds:>9.2f}{args.rows / seconds:>14,.0f}")
    write_ratio = best["write native parquet"] / best["write bridge (delta)"]
    read_ratio = best["read native parquet"] / best["read bridge (delta)"]
    print(
        f"\nbridge/native write throughput: {write_ratio:.2f}x (target >= {TARGET_WRITE}x) "
        f"{'OK' if write_ratio >= TARGET_WRITE else 'BELOW TARGET'}"
    )
    print(
        f"bridge/native read throughput:  {read_ratio:.2f}x (target >= {TARGET_READ}x) "
        f"{'OK' if read_ratio >= TARGET_READ else 'BELOW TARGET'}"
    )
    if native:
        delta_write = best["write native delta"] / best["write bridge (delta)"]
        delta_read = best["read native delta"] / best["read bridge (delta)"]
        for what, ratio in (("write", delta_write), ("read", delta_read)):
            print(
                f"bridge/native Delta {what} throughput: {ratio:.2f}x (target >= {TARGET_DELTA}x)"
                f" {'OK' if ratio >= TARGET_DELTA else 'BELOW TARGET'}"
            )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
