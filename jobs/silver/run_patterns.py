"""silver.run_patterns: each run's role sequence and its best pattern of silver.patterns (the
longest closed pattern the run contains; ties: the more frequent). Rewritten in full with every
re-mining, since any run's best pattern can change when the patterns do. Reads the role
sequences of silver.run_roles, never the events."""

from __future__ import annotations

from dataclasses import dataclass

from ..context import JobContext, JobResult
from ..lake import catalog
from ..runner import JobInput, JobOutput, run_job
from . import _mining
from .patterns import REMINED, RUN_ROLES, mined_runs, sequence_counts

JOB_NAME = "run_patterns"
SEP = "\x1f"  # joins a role sequence into one key (no role name holds it)
OUTPUT = catalog.SILVER_RUN_PATTERNS


@dataclass(frozen=True)
class RunPatterns:
    name: str = JOB_NAME
    sources: tuple = (catalog.SILVER_PATTERNS, RUN_ROLES)
    output: catalog.TableSpec = OUTPUT

    def compute(self, job: JobInput) -> JobOutput:
        from pyspark.sql import functions as F

        table = job.ctx.lake.table(
            catalog.SILVER_PATTERNS, version=job.range(catalog.SILVER_PATTERNS).upto
        )
        stored = table.to_pyarrow_table(columns=["roles", "n_runs"]).to_pylist() if table else []
        patterns = {tuple(p["roles"]): p["n_runs"] for p in stored}
        runs = mined_runs(job)
        try:
            sequences = [tuple(r["roles"]) for r in runs.select("roles").distinct().collect()]
            best = {}
            for s in sequences:
                p = _mining.best_pattern(s, patterns)
                if p is not None:
                    best[s] = (_mining.pattern_id(p), " -> ".join(p))
            lookup = job.spark.createDataFrame(
                [(_key(s), pid, name) for s, (pid, name) in best.items()],
                "roles_key string, pattern_id string, pattern_name string",
            )
            rows = (
                runs.withColumn("roles_key", F.array_join("roles", SEP))
                .join(F.broadcast(lookup), "roles_key", "left")
                .withColumn(
                    "status",
                    F.when(F.col("n_steps") == 0, "no_steps")
                    .when(F.col("pattern_id").isNull(), "no_pattern")
                    .otherwise("matched"),
                )
                .select(*OUTPUT.schema.names)
            )
            counts = sequence_counts(runs)
            matched = rows.where("status = 'matched'").count()
            data = rows.repartition(1).sortWithinPartitions("run_id").localCheckpoint()
        finally:
            runs.unpersist()
        return JobOutput(
            data,
            mode="overwrite",
            details={"note": REMINED, "runs_matched": matched, **counts},
        )


def _key(roles: tuple[str, ...]) -> str:
    return SEP.join(roles)


JOB = RunPatterns()


def run(ctx: JobContext, full: bool = False) -> JobResult:
    """Assign every run its best pattern of silver.patterns."""
    return run_job(ctx, JOB, full=full)
