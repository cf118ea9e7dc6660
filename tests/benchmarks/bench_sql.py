"""Benchmark: the same five analyst queries on the embedded engine (DuckDB) and on Spark SQL.

    python tests/benchmarks/bench_sql.py [--runs 5000] [--repeat 3]

Builds a lake once (simulate -> ingest -> build), then times each query: embedded with a fresh
engine per query (what one `tracelake sql` call costs, tables opened included), Spark SQL on a
warm session (views registered once), and Spark's session start-up separately. Prints the best
of `--repeat` per query and the ratio Spark / embedded (goal: embedded answers in ~1 s).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from tracelake.jobs import build, sql
from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import job as ingest
from tracelake.jobs.settings import Settings
from tracelake.jobs.simulate import job as simulate

QUERIES = [
    ("runs by outcome", build.DEMO_QUERIES[0][1]),
    ("success by level", build.DEMO_QUERIES[1][1]),
    ("failing components", build.DEMO_QUERIES[2][1]),
    (
        "daily events and cost",
        "SELECT event_date, count(*) AS events, round(sum(cost_usd), 4) AS cost "
        "FROM bronze.events GROUP BY event_date ORDER BY event_date",
    ),
    (
        "slowest runs with their events",
        "SELECT r.run_id, r.duration_s, count(*) AS events FROM silver.runs AS r "
        "JOIN bronze.events AS e ON e.run_id = r.run_id "
        "GROUP BY r.run_id, r.duration_s ORDER BY r.duration_s DESC, r.run_id LIMIT 20",
    ),
]


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tracelake-bench-sql-"))
    ctx = JobContext.create(Settings(lake_root=str(work / "lake")))
    simulate.run(ctx, runs=args.runs, seed=3, out=str(work / "traces"))
    stored = ingest.run(ctx, [str(work / "traces")]).rows_out
    spark_start = time.perf_counter()
    from tracelake.jobs.spark import get_session

    spark = get_session(ctx.settings)
    startup = time.perf_counter() - spark_start
    build.run(ctx)
    print(f"runs: {args.runs:,}  events: {stored:,}  Spark start-up: {startup:.1f}s")

    on_spark = sql.open_engine(ctx, "spark", spark=spark)
    print(f"{'query':<32}{'embedded s':>12}{'spark s':>10}{'spark/embedded':>16}")
    totals = [0.0, 0.0]
    for title, text in QUERIES:
        embedded_s = spark_s = float("inf")
        for _ in range(args.repeat):
            embedded_s = min(embedded_s, timed(lambda t=text: sql.query(ctx, t, engine="embedded")))
            spark_s = min(spark_s, timed(lambda t=text: on_spark.run(t)))
        a, b = (
            sql.query(ctx, text, engine="embedded").num_rows,
            on_spark.run(text).num_rows,
        )
        assert a == b, f"{title}: {a} vs {b} rows"
        totals[0] += embedded_s
        totals[1] += spark_s
        print(f"{title:<32}{embedded_s:>12.3f}{spark_s:>10.3f}{spark_s / embedded_s:>15.1f}x")
    print(
        f"{'all five':<32}{totals[0]:>12.3f}{totals[1]:>10.3f}{totals[1] / totals[0]:>15.1f}x"
        f"  (+ {startup:.1f}s Spark start-up per `tracelake sql --engine spark` call)"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
