"""gold.preferences: preference pairs in TRL's prompt / chosen / rejected shape, tool calls kept.

Rule pairs come from gold.examples, one scenario family at a time (jobs/gold/pairs.py); human
pairs from ops.feedback take precedence. A family's pairs depend on all its examples, so an
incremental run re-pairs only the families whose examples changed since the bookmark (rows
added, rewritten or removed), plus the families of every judged run when feedback moved, and
replaces the output files holding their pairs; human pairs (feedback is small) are always
recomputed. A full run, or one whose diff needs vacuumed files, rewrites everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pydantic import Field

from ..lake import catalog, spark_io
from ..quality.rows import checked_metadata
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
# gold.rejected's stage of pairs failing a row-level rule of this table's contract
CONTRACT_STAGE = "preferences_contract"
NOTE_FULL = "rewritten in full"
NOTE_FAMILIES = "re-paired {n} scenario families (those whose examples or feedback changed)"


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
        feedback = read_feedback(job)
        judged_runs = sorted(
            {f["run_id"] for f in feedback}
            | {f["other_run_id"] for f in feedback if f.get("other_run_id")}
        )
        changed = _assembly.changed_families(job, EXAMPLES)
        families: set[str] | None = None
        runs: set[str] = set()
        if changed is not None:
            families, runs = changed
            fb = job.range(FEEDBACK)
            if fb.is_full or fb.after < fb.upto:  # type: ignore[operator]
                # a new judgement replaces rule pairs of its runs, in whatever family
                families |= _assembly.families_of(job, EXAMPLES, judged_runs)
        examples = spark_io.read(
            job.spark,
            EXAMPLES,
            lake=job.ctx.lake,
            columns=PAIR_COLUMNS,
            version=job.range(EXAMPLES).upto,
        )
        if families is not None:
            examples = examples.where(F.col("family_key").isin(sorted(families)))
            runs |= {r[0] for r in examples.select("run_id").collect()}
        rules = examples.groupBy("family_key").applyInArrow(
            _family_pairs(p.max_pairs_per_prompt), spark_io.spark_schema(OUTPUT.schema)
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
        touched: list[str] = []
        if families is not None:
            # Rule pairs of the re-paired families (a rule pair never leaves its family) and
            # every human pair (all recomputed above) are replaced; the rest is kept as is.
            redone = sorted(runs)
            touched = _assembly.output_files_where(
                job,
                OUTPUT,
                ("source", "chosen_run_id", "rejected_run_id"),
                lambda t: _replaced(t["source"], t["chosen_run_id"], t["rejected_run_id"], redone),
            )
            if touched:
                kept = spark_io.read(job.spark, OUTPUT, lake=job.ctx.lake, files=touched).where(
                    (F.col("source") != "human")
                    & ~F.col("chosen_run_id").isin(redone)
                    & ~F.col("rejected_run_id").isin(redone)
                )
                rows = kept.unionByName(rows)
        rows = rows.repartition(1).sortWithinPartitions("pair_id").localCheckpoint()
        rows, failed = _assembly.contract_filtered(
            job, rows, OUTPUT, CONTRACT_STAGE, job_name=JOB_NAME, full=families is None
        )
        fresh = (
            rows
            if families is None
            else rows.where(
                (F.col("source") == "human")
                | F.col("chosen_run_id").isin(sorted(runs))
                | F.col("rejected_run_id").isin(sorted(runs))
            )
        )
        details = {
            "note": NOTE_FULL if families is None else NOTE_FAMILIES.format(n=len(families)),
            "pairs": fresh.count(),
            "human_pairs": len(human),
            "by_reason": _assembly.counts(fresh.where("source = 'rule'"), "reason"),
            "by_split": _assembly.counts(fresh, "split"),
            "feedback_skipped": skipped,
            "contract_rejected": failed,
        }
        # contract_filtered checked every row this commit writes, the kept ones too
        checked = checked_metadata(OUTPUT.qualified_name, carried=False)
        if families is None:
            return JobOutput(
                rows, mode="overwrite", details=_assembly.as_details(details), metadata=checked
            )
        return JobOutput(
            rows, replace_files=touched, details=_assembly.as_details(details), metadata=checked
        )


def _replaced(source, chosen, rejected, runs: list[str]):
    import pyarrow.compute as pc

    redone = pa.array(runs, pa.string())
    return pc.or_(
        pc.equal(source, "human"),
        pc.or_(pc.is_in(chosen, redone), pc.is_in(rejected, redone)),
    )


JOB = GoldPreferences()
