"""gold.examples: every usable run, real or synthetic, as a training example (the four-part
record, messages + tools, per-message weights, phase, lineage, split), and one
component_evolution example per improved component version (jobs/gold/evolution.py). See
docs/gold.md.

Incremental: a run that gained events (in silver.events or silver.synthetic_events) is
re-assembled from all its events, and so is a run whose pattern in silver.run_patterns changed
(the patterns are re-mined in full); the example files holding them are rewritten in the same
commit. The gold.rejected job runs the same assembly and keeps the other half. When
silver.component_evolution moves (it is recomputed in full), every evolution example is
re-derived.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
from pydantic import Field, model_validator

from ..lake import catalog, spark_io
from ..quality.rows import checked_metadata
from ..registry import DerivedParams
from ..runner import JobInput, JobOutput
from . import _assembly, evolution

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

JOB_NAME = "gold_examples"
OUTPUT = catalog.GOLD_EXAMPLES
EVOLUTION = catalog.SILVER_COMPONENT_EVOLUTION
# gold.rejected's stage of component_evolution examples failing a row-level rule of this
# table's contract (they have no run, so the gold.rejected job never assembles them).
EVOLUTION_CONTRACT_STAGE = "evolution_contract"


class Params(DerivedParams):
    # Shares of scenario families per split; changing them needs `--full` (a rebuild).
    validation_share: float = Field(default=0.1, ge=0.0, le=0.5)
    test_share: float = Field(default=0.1, ge=0.0, le=0.5)

    @model_validator(mode="after")
    def _train_left(self) -> Params:
        if self.validation_share + self.test_share >= 1.0:
            raise ValueError("validation_share + test_share must leave a train split")
        return self


def changed_patterns(job: JobInput) -> list[str]:
    """Runs whose pattern in silver.run_patterns differs from the one their example holds."""
    from pyspark.sql import functions as F

    lake = job.ctx.lake
    if lake.version(OUTPUT) is None:
        return []
    current = spark_io.read(
        job.spark,
        catalog.SILVER_RUN_PATTERNS,
        lake=lake,
        columns=["run_id", "pattern_name"],
        version=job.range(catalog.SILVER_RUN_PATTERNS).upto,
    )
    held = spark_io.read(job.spark, OUTPUT, lake=lake, columns=["run_id", "pattern"])
    diff = held.join(current, "run_id", "left").where(
        ~F.col("pattern").eqNullSafe(F.col("pattern_name"))
    )
    return sorted(r[0] for r in diff.select("run_id").collect())


def evolution_rows(job: JobInput, p: Params) -> tuple[list[dict], dict[str, int]]:
    """Every component_evolution example that passes the contract's row-level rules, and the
    counts of evolutions without one (by why, failed rules under `contract`). The failures
    replace gold.rejected's `evolution_contract` rows before this job commits."""
    rows = job.ctx.lake.read(EVOLUTION, version=job.range(EVOLUTION).upto).to_pylist()
    examples, skipped = evolution.evolution_examples(
        rows, _assembly.versions_read(job), p.validation_share, p.test_share
    )
    passed, rejected = _assembly.examples_passing(examples, EVOLUTION_CONTRACT_STAGE)
    _assembly.replace_stage(job, EVOLUTION_CONTRACT_STAGE, rejected, JOB_NAME)
    if rejected:
        skipped["contract"] = len(rejected)
    return passed, skipped


def held_evolution_ids(job: JobInput) -> list[str]:
    if job.ctx.lake.version(OUTPUT) is None:
        return []
    held = job.ctx.lake.read(OUTPUT, columns=["run_id", "phase"])
    return [r["run_id"] for r in held.to_pylist() if r["phase"] == evolution.PHASE]


def details(rows: DataFrame) -> dict:
    """Counts per phase, level, pattern and outcome, and the null share of each record field
    per phase (of the rows this run assembled)."""
    from pyspark.sql import functions as F

    total = {p: n for p, n in _assembly.counts(rows, "phase").items()}
    nulls = (
        rows.select("phase", F.explode("null_fields").alias("field"))
        .groupBy("phase", "field")
        .count()
        .collect()
    )
    share = {f"{r['phase']}:{r['field']}": round(r["count"] / total[r["phase"]], 4) for r in nulls}
    return _assembly.as_details(
        {
            "examples": sum(total.values()),
            "by_phase": total,
            "by_level": _assembly.counts(rows, "level"),
            "by_pattern": _assembly.counts(rows, "pattern"),
            "by_outcome": _assembly.counts(rows, "outcome"),
            "by_split": _assembly.counts(rows, "split"),
            "null_share": dict(sorted(share.items())),
        }
    )


@dataclass(frozen=True)
class GoldExamples:
    name: str = JOB_NAME
    sources: tuple = (
        catalog.SILVER_EVENTS,
        catalog.SILVER_SYNTHETIC_EVENTS,
        catalog.SILVER_RUN_PATTERNS,
        EVOLUTION,
    )
    output: catalog.TableSpec = OUTPUT
    params: type[Params] = Params
    description: str = "Training examples (record, messages + tools, weights, split) per run."

    def compute(self, job: JobInput) -> JobOutput:
        p = job.params if isinstance(job.params, Params) else Params()
        # ops.feedback is a source of gold.preferences; it exists before anyone gave feedback so
        # that preferences build on a lake without any (the runner waits for missing sources).
        job.ctx.lake.ensure(catalog.OPS_FEEDBACK)

        full = job.full or any(r.is_full for r in job.ranges.values())
        ev = job.range(EVOLUTION)
        moved = full or ev.after is None or ev.after < ev.upto
        evolved, skipped = evolution_rows(job, p) if moved else ([], {})

        def rows_for(run_ids: Sequence[str] | None) -> DataFrame:
            rows = _assembly.assembled(
                job, OUTPUT, "examples", run_ids, validation=p.validation_share, test=p.test_share
            )
            if evolved:
                table = pa.Table.from_pylist(evolved, OUTPUT.schema)
                rows = rows.unionByName(spark_io.from_arrow(job.spark, table))
            return rows

        extra = [] if full else changed_patterns(job)
        if evolved or skipped:  # every evolution example is re-derived
            extra += held_evolution_ids(job) + [r["run_id"] for r in evolved]
        out, affected = _assembly.incremental_output(job, OUTPUT, rows_for, extra)
        if out is None:
            return JobOutput(_assembly.empty(job, OUTPUT), details={"runs_affected": 0})
        # every row assembled here passed the row filter (_assembly.checked, examples_passing);
        # an incremental run keeps the other rows of the files it rewrites as they were
        out.metadata.update(
            checked_metadata(OUTPUT.qualified_name, carried=bool(out.replace_files))
        )
        fresh = out.data if not affected else out.data.where(out.data.run_id.isin(affected))
        out.details.update(details(fresh))
        if skipped:
            out.details["evolutions_without_example"] = skipped
        if affected:
            out.details["runs_affected"] = len(affected)
        return out


JOB = GoldExamples()
