"""Benchmark: the Phase-2 lineage and pattern jobs against the runs projection.

    python tests/benchmarks/bench_phase2.py [--runs 100000] [--increment 0.01] [--seed 5]

Simulates `--runs` runs (about 20 events each: 100k runs ~ 2M events), ingests them, then
times on the same data: the runs projection (the baseline), the full build of
silver.component_usage, silver.components, silver.component_evolution and silver.patterns
(+ silver.run_patterns, which is mined with it), then ingests `--increment` more runs and
times the incremental build of usage, components and evolution. Prints:
  phase2 / projection  (target <= 2.0)
  incremental / full of usage+components+evolution  (target <= 0.10)
and the peak resident memory of this process and of Spark's JVM.
Engine: the one the settings select (this branch ships the delta-rs bridge).
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
    components,
    patterns,
    run_patterns,
)
from tracelake.jobs.silver import runs as project_runs
from tracelake.jobs.simulate.runs import generate_runs
from tracelake.jobs.spark import get_session

LINEAGE = (component_usage.JOB, components.JOB, component_evolution.JOB)
MINING = (patterns.JOB, run_patterns.JOB)


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
    start = time.perf_counter()
    for job in jobs:
        result = run_job(ctx, job, full=full, spark=spark)
        assert result.status == "succeeded", f"{job.name}: {result.message}"
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--increment", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-phase2-"))
    try:
        ctx = JobContext.create(
            Settings(
                lake_root=str(work / "lake"),
                export_root=str(work / "x"),
                landing=str(work / "l"),
            )
        )
        spark = get_session(ctx.settings)
        extra = max(1, int(args.runs * args.increment))
        n = write_runs(work / "a.jsonl", args.seed, 0, args.runs)
        ingest_job.run(ctx, [str(work / "a.jsonl")])
        print(f"{args.runs} runs, {n} events ingested")
        base = timed(ctx, [project_runs.JOB], spark)
        lineage_full = timed(ctx, LINEAGE, spark)
        mining = timed(ctx, MINING, spark)
        phase2 = lineage_full + mining
        print(f"projection (baseline) full: {base:.1f} s")
        print(f"usage+components+evolution full: {lineage_full:.1f} s")
        print(f"patterns+run_patterns (always full): {mining:.1f} s")
        print(f"phase2 / projection: {phase2 / base:.2f} (target <= 2.0)")
        write_runs(work / "b.jsonl", args.seed, args.runs, args.runs + extra)
        ingest_job.run(ctx, [str(work / "b.jsonl")])
        incremental = timed(ctx, LINEAGE, spark)
        print(
            f"+{extra} runs: incremental usage+components+evolution {incremental:.1f} s = "
            f"{incremental / lineage_full:.2f} of full (target <= 0.10)"
        )
        me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS: python {me:.0f} MiB, largest child (Spark JVM) {kids:.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
