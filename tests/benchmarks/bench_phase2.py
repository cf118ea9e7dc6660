"""Benchmark: the Phase-2 lineage and pattern jobs against the runs projection.

    python tests/benchmarks/bench_phase2.py [--runs 100000] [--increment 0.01] [--seed 5]
        [--engines native,bridge]

Simulates `--runs` runs (about 25 events each: 100k runs ~ 2.5M events), ingests them and
scrubs them into silver.events (which every job here reads; not timed), then, per Delta engine
(native when `make native-jars` cached the jars, and the bridge), times on the same data: the
runs projection (the baseline), the full build of the lineage jobs (silver.component_usage,
silver.component_version_stats, silver.components, silver.component_evolution) and of the
mining jobs (silver.run_roles, silver.patterns, silver.run_patterns), then ingests
`--increment` more runs and times the incremental build of the lineage jobs (and, for
information, of the mining jobs: run_roles is incremental, the mining re-runs in full). Prints:
  phase2 / projection  (target <= 2.0)
  incremental / full of the lineage jobs  (target <= 0.10)
and the peak resident memory of this process and of Spark's JVM.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import orjson

from tracelake.jobs.context import JobContext
from tracelake.jobs.ingest import job as ingest_job
from tracelake.jobs.runner import run_job
from tracelake.jobs.settings import Settings
from tracelake.jobs.silver import (
    component_evolution,
    component_usage,
    component_version_stats,
    components,
    patterns,
    run_patterns,
    run_roles,
    scrub_events,
)
from tracelake.jobs.silver import runs as project_runs
from tracelake.jobs.simulate.runs import generate_runs
from tracelake.jobs.spark import get_session

LINEAGE = (
    component_usage.JOB,
    component_version_stats.JOB,
    components.JOB,
    component_evolution.JOB,
)
MINING = (run_roles.JOB, patterns.JOB, run_patterns.JOB)


def write_runs(path: Path, seed: int, first: int, last: int) -> int:
    events = 0
    with path.open("wb") as out:
        for i, run in enumerate(generate_runs(seed, last)):
            if i < first:
                continue
            out.write(b"".join(orjson.dumps(e) + b"\n" for e in run))
            events += len(run)
    return events


def timed(ctx: JobContext, jobs, spark, full: bool = False) -> float:
    total = 0.0
    for job in jobs:
        start = time.perf_counter()
        result = run_job(ctx, job, full=full, spark=spark)
        took = time.perf_counter() - start
        assert result.status == "succeeded", f"{job.name}: {result.message}"
        if len(jobs) > 1:
            print(f"  {job.name}: {took:.1f} s")
        total += took
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--increment", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--engines", default="native,bridge")
    args = ap.parse_args()
    spark = get_session(Settings())  # start Spark outside the timings
    from tracelake.jobs.lake import spark_io
    from tracelake.jobs.spark import native_delta_available

    engines = [e for e in args.engines.split(",") if e]
    if "native" in engines and not native_delta_available(spark):
        print("native Delta jars not cached (make native-jars): native engine skipped")
        engines.remove("native")
    work = Path(tempfile.mkdtemp(prefix="bench-phase2-"))
    try:
        extra = max(1, int(args.runs * args.increment))
        n = write_runs(work / "a.jsonl", args.seed, 0, args.runs)
        write_runs(work / "b.jsonl", args.seed, args.runs, args.runs + extra)
        print(f"{args.runs:,} runs, {n:,} events; increment +{extra:,} runs")
        summary = []
        for engine in engines:
            print(f"\n== engine {engine}")
            with spark_io.using_engine(engine):
                summary.append((engine, *measure(work / engine, work, extra, spark)))
        print(f"\n{'engine':<8}{'phase2/projection':>20}{'incremental/full':>18}")
        for engine, ratio, inc in summary:
            print(f"{engine:<8}{ratio:>15.2f} (<=2){inc:>13.3f} (<=0.10)")
        me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS: python {me:.0f} MiB, largest child (Spark JVM) {kids:.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(root: Path, inputs: Path, extra: int, spark) -> tuple[float, float]:
    """One lake on the current engine; returns (phase2 / projection, incremental / full)."""
    ctx = JobContext.create(
        Settings(
            lake_root=str(root / "lake"),
            export_root=str(root / "x"),
            landing=str(root / "l"),
        )
    )
    ingest_job.run(ctx, [str(inputs / "a.jsonl")])
    scrub = timed(ctx, [scrub_events.JOB], spark)
    print(f"scrub into silver.events (not counted): {scrub:.1f} s")
    base = timed(ctx, [project_runs.JOB], spark)
    lineage_full = timed(ctx, LINEAGE, spark)
    mining = timed(ctx, MINING, spark)
    phase2 = lineage_full + mining
    print(f"projection (baseline) full: {base:.1f} s")
    print(f"lineage (usage, version stats, components, evolution) full: {lineage_full:.1f} s")
    print(f"mining (run_roles, patterns, run_patterns) full: {mining:.1f} s")
    print(f"phase2 / projection: {phase2 / base:.2f} (target <= 2.0)")
    ingest_job.run(ctx, [str(inputs / "b.jsonl")])
    timed(ctx, [scrub_events.JOB], spark)
    incremental = timed(ctx, LINEAGE, spark)
    print(
        f"+{extra} runs: incremental lineage {incremental:.1f} s = "
        f"{incremental / lineage_full:.3f} of full (target <= 0.10)"
    )
    remined = timed(ctx, MINING, spark)
    print(
        f"+{extra} runs: incremental run_roles + re-mining {remined:.1f} s = "
        f"{remined / mining:.3f} of full (no target: the mining re-runs in full)"
    )
    return phase2 / base, incremental / lineage_full


if __name__ == "__main__":
    main()
