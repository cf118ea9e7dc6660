"""`ops.gate_results`: the quality gates' results, appended by `tracelake gate` (docs/gates.md).

One row per validated table version and gate run: the suite generated from the table's contract,
whether every expectation held, and each expectation's outcome and observed value. The export
reads the latest row of each table version it exports and refuses a failed one.
"""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from .arrow import model_fields_to_arrow

# The rule families of a suite (an expectation's `family`).
RULE_FAMILIES = ("column", "key", "allowed", "format", "referential", "dataset")


class ExpectationOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Stable name, e.g. gold.examples.run_id.unique.")
    family: str = Field(description="Rule family: " + ", ".join(RULE_FAMILIES) + ".")
    expectation_type: str = Field(description="The GX expectation, e.g. expect_column_values_...")
    column: str | None = Field(default=None, description="The column checked, if one.")
    passed: bool = Field(description="The expectation held.")
    observed_value: str = Field(description="JSON: what GX observed (counts, a sample of ids).")
    unexpected_count: int | None = Field(default=None, description="Rows that broke it.")


class GateResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    gate_result_id: str = Field(description="One table version validated by one gate run.")
    gate_run_id: str = Field(description="One `tracelake gate` (all the tables it validated).")
    table: str = Field(description="Qualified table name (tier.name).")
    table_version: int = Field(ge=0, description="The Delta version validated.")
    suite: str = Field(description="Suite name: table@hash of the contract it was built from.")
    passed: bool = Field(description="Every expectation held.")
    expectations: list[ExpectationOutcome] = Field(description="Each expectation's outcome.")
    reference_versions: str = Field(description="JSON: versions of the tables referred to.")
    engine: str = Field(description="The Spark Delta engine that read the table: native|bridge.")
    data_docs: str = Field(description="Data Docs page of this validation; '' when not built.")
    started_at: datetime = Field(description="When the gate run started, UTC.")
    finished_at: datetime = Field(description="When this table's validation finished, UTC.")


GATE_RESULTS_SCHEMA = pa.schema(model_fields_to_arrow(GateResult))
