"""gold.preferences: preference pairs in TRL's prompt / chosen / rejected shape, tool calls kept.

Rule pairs come from gold.examples, one scenario family at a time (jobs/gold/pairs.py); human
pairs from ops.feedback take precedence. A family's pairs depend on all its examples and any
feedback can reach any pair, so the table is rewritten in full whenever either source moves
(pairs are a few per family: small next to the examples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pydantic import Field

from ..lake import catalog, spark_io
from ..registry import DerivedParams
from ..runner import JobInput, JobOutput
from . import _assembly, pairs

JOB_NAME = "gold_preferences"
OUTPUT = catalog.GOLD_PREFERENCES
EXAMPLES = catalog.GOLD_EXAMPLES
FEEDBACK = catalog.OPS_FEEDBACK
PAIR_COLUMNS = (
    "run_id",
    "seed_run_id",
    "family_key",
    "split",
    "outcome",
    "errors",
    "steps",
    "cost_usd",
    "messages",
    "tools",
    "event_ids",
)
NOTE = "rewritten in full (pairs depend on whole scenario families and on all feedback)"


class Params(DerivedParams):
    max_pairs_per_prompt: int = Field(default=4, ge=1, le=100)


def _family_pairs(limit: int):
    def run(table: pa.Table) -> pa.Table:
        return pa.Table.from_pylist(pairs.rule_pairs(table.to_pylist(), limit), OUTPUT.schema)

    return run


def read_feedback(job: JobInput) -> list[dict[str, Any]]:
    return job.ctx.lake.read(FEEDBACK, version=job.range(FEEDBACK).upto).to_pylist()


@dataclass(frozen=True)
class GoldPreferences:
    name: str = JOB_NAME
    sources: tuple = (EXAMPLES, FEEDBACK)
    output: catalog.TableSpec = OUTPUT
    params: type[Params] = Params
    description: str = "Preference pairs (outcome rules + human feedback), TRL's shape."

    def compute(self, job: JobInput) -> JobOutput:
        from pyspark.sql import functions as F

        p = job.params if isinstance(job.params, Params) else Params()
        examples = spark_io.read(
            job.spark,
            EXAMPLES,
            lake=job.ctx.lake,
            columns=PAIR_COLUMNS,
            version=job.range(EXAMPLES).upto,
        )
        rules = examples.groupBy("family_key").applyInArrow(
            _family_pairs(p.max_pairs_per_prompt), spark_io.spark_schema(OUTPUT.schema)
        )
        feedback = read_feedback(job)
        judged_runs = sorted(
            {f["run_id"] for f in feedback}
            | {f["other_run_id"] for f in feedback if f.get("other_run_id")}
        )
        judged = (
            spark_io.read(
                job.spark,
                EXAMPLES,
                lake=job.ctx.lake,
                columns=PAIR_COLUMNS,
                version=job.range(EXAMPLES).upto,
                where=[("run_id", "in", judged_runs)],
            ).collect()
            if judged_runs
            else []
        )
        human, skipped = pairs.human_pairs(
            feedback, {r["run_id"]: r.asDict(recursive=True) for r in judged}
        )
        covered = {frozenset((h["chosen_run_id"], h["rejected_run_id"])) for h in human}
        if covered:
            keys = [sorted(k) for k in covered]
            drop = job.spark.createDataFrame(keys, "a string, b string")
            rules = rules.join(
                drop,
                (F.least("chosen_run_id", "rejected_run_id") == F.col("a"))
                & (F.greatest("chosen_run_id", "rejected_run_id") == F.col("b")),
                "left_anti",
            )
        rows = rules
        if human:
            human_df = spark_io.from_arrow(job.spark, pa.Table.from_pylist(human, OUTPUT.schema))
            rows = human_df.unionByName(rules)
        rows = rows.repartition(1).sortWithinPartitions("pair_id").localCheckpoint()
        details = {
            "note": NOTE,
            "pairs": rows.count(),
            "human_pairs": len(human),
            "by_reason": _assembly.counts(rows.where("source = 'rule'"), "reason"),
            "by_split": _assembly.counts(rows, "split"),
            "feedback_skipped": skipped,
        }
        return JobOutput(rows, mode="overwrite", details=_assembly.as_details(details))


JOB = GoldPreferences()
