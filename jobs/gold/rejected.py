"""gold.rejected (assembly's rows): every run that could not become a training example, with a
documented reason code (docs/gold.md). The same assembly as gold.examples, the other half:
read = examples + rejected. Later stages (curation, gates) append their own rows with their
own `stage`; this job rewrites only rows of stage `assemble`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..lake import catalog
from ..runner import JobInput, JobOutput
from . import _assembly

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

JOB_NAME = "gold_rejected"
OUTPUT = catalog.GOLD_REJECTED
# The rows this job owns (assembly's rejections and the examples that failed a row-level rule
# of gold.examples' contract); other stages' rows are kept as they are.
STAGES = ("assemble", _assembly.CONTRACT_STAGE)


@dataclass(frozen=True)
class GoldRejected:
    name: str = JOB_NAME
    sources: tuple = (catalog.SILVER_EVENTS, catalog.SILVER_SYNTHETIC_EVENTS)
    output: catalog.TableSpec = OUTPUT
    description: str = "Runs assembly could not use, with a reason code."

    def compute(self, job: JobInput) -> JobOutput:
        def rows_for(run_ids: Sequence[str] | None) -> DataFrame:
            return _assembly.assembled(job, OUTPUT, "rejected", run_ids)

        out, affected = _assembly.incremental_output(
            job, OUTPUT, rows_for, others=f"stage NOT IN ({', '.join(repr(s) for s in STAGES)})"
        )
        if out is None:
            return JobOutput(_assembly.empty(job, OUTPUT), details={"runs_affected": 0})
        fresh = out.data.where(out.data.stage.isin(list(STAGES)))
        if affected:
            fresh = fresh.where(fresh.run_id.isin(affected))
        out.details["by_reason"] = _assembly.counts(fresh, "reason_code")
        if affected:
            out.details["runs_affected"] = len(affected)
        return out


JOB = GoldRejected()
